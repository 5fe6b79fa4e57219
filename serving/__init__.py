"""The live half: a service that assigns, recommends and logs, without losing an event.

A composition of existing rooms behind HTTP (:mod:`serving.app`): the assigner
(:mod:`abtest.assignment`), the neighbors table held in memory
(:mod:`serving.neighbors`) and the store. Its durability is its own small room:
every request's rows are appended to a write-ahead log and fsynced with the
other requests of the same moment before the request is acknowledged
(:mod:`serving.wal`), and a single writer moves committed batches into DuckDB,
replaying the log on start (:mod:`serving.writer`); event ids and the exposures'
keys make a replay harmless.
"""
