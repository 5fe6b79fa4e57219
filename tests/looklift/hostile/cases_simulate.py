"""Hostile inputs to simulate: concurrent experiments, keys that look like other keys,
and replacing traffic that is not the experiment's own.

The workspace's database holds 3 days of ``similar-looks`` (2026-03-02 to 03-04, no
pre-period), simulated as run 1. One stream of traffic serves every experiment on a
day: a second experiment on those dates must be simulated together with it, and
nothing another experiment (or a team) stored may be deleted or mixed with.
"""

from __future__ import annotations

from pathlib import Path

from tests.looklift.hostile.corpus import EXAMPLE_SPEC, Case, Result

SHORT = ("--days", "3", "--pre-days", "0")
"""Like the workspace's own simulation: the same 3 days, no pre-period."""


def _spec_with(*changes: tuple[str, str]) -> str:
    text = EXAMPLE_SPEC.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


KEY = ("key: similar-looks\n", "key: similar-looks-v2\n")
SEED = ("seed: similar-looks-2026-03\n", "seed: similar-looks-v2\n")
OTHER_RANGE = ("range: [0.0, 0.7]", "range: [0.7, 1.0]")
APRIL = ("start: 2026-03-02", "start: 2026-04-06"), ("end: 2026-03-16", "end: 2026-04-20")
MAY = ("start: 2026-03-02", "start: 2026-05-04"), ("end: 2026-03-16", "end: 2026-05-18")

OTHER = _spec_with(KEY, SEED, OTHER_RANGE)
"""Another experiment on the same dates, in the other 30% of the namespace."""


def _march_traffic_kept(folder: Path, result: Result) -> None:
    """similar-looks' events are all still there: as many as its run recorded."""
    import duckdb

    with duckdb.connect(str(folder / "looklift.duckdb"), read_only=True) as con:
        (march,) = con.execute(  # type: ignore[misc]
            "SELECT count(*) FROM events WHERE ts < TIMESTAMP '2026-03-06'"
        ).fetchone()
        assert march > 0, "similar-looks' events were deleted"
        recorded = con.execute(
            "SELECT events FROM simulation_runs WHERE experiment = 'similar-looks'"
        ).fetchone()
    assert recorded is not None and march == recorded[0], (march, recorded)


def _joint_run(path: Path) -> None:
    """Simulate similar-looks and other.yaml together into the workspace's database."""
    from abtest.simulate.traffic import TrafficConfig, simulate_experiments
    from abtest.spec import load_spec

    path.write_text("similar-looks and similar-looks-v2 simulated together\n")
    specs = [load_spec(EXAMPLE_SPEC), load_spec(path.parent / "other.yaml")]
    config = TrafficConfig(days=3, pre_days=0)
    simulate_experiments(path.parent / "looklift.duckdb", specs, config, replace=True)


def _ingested(table: str, row: dict[str, object]) -> object:
    """A file maker that also stores ``row`` in ``table``, as a team's ingest would."""

    def make(path: Path) -> None:
        import datetime as dt

        import polars as pl

        from abtest.store import Store

        path.write_text(f"one {table} row ingested\n")
        frame = pl.DataFrame([{**row, "ts": dt.datetime(2026, 4, 7, 12)}])
        with Store(path.parent / "looklift.duckdb") as store:
            store.ingest(table, frame)

    return make


CASES = [
    Case(
        "simulate-again-without-replace",
        ("simulate", "{spec}", "--db", "{db}", *SHORT),
        says="'similar-looks' was already simulated",
    ),
    Case(
        "simulate-a-second-experiment-on-the-same-dates",
        ("simulate", "other.yaml", "--db", "{db}", *SHORT),
        says="already hold the traffic simulated for 'similar-looks'",
        files={"other.yaml": OTHER},
    ),
    Case(
        "simulate-a-second-experiment-on-the-same-dates-with-replace",
        ("simulate", "other.yaml", "--db", "{db}", "--replace", *SHORT),
        says="simulate 'similar-looks-v2' together with 'similar-looks'",
        files={"other.yaml": OTHER},
    ),
    Case(
        "simulate-a-key-that-starts-another-key",
        ("simulate", "similar.yaml", "--db", "{db}", "--days", "2"),
        code=0,
        files={"similar.yaml": _spec_with(("key: similar-looks\n", "key: similar\n"), *APRIL)},
        db_may_change=True,
        check=_march_traffic_kept,
    ),
    Case(
        "simulate-a-key-with-a-like-wildcard",
        ("simulate", "underscore.yaml", "--db", "{db}", "--days", "2", "--replace"),
        code=0,
        files={
            "underscore.yaml": _spec_with(("key: similar-looks\n", "key: similar_looks\n"), *MAY)
        },
        db_may_change=True,
        check=_march_traffic_kept,
    ),
    Case(
        "simulate-one-experiment-twice-in-one-run",
        ("simulate", "{spec}", "{spec}", "--db", "{db}", "--replace", *SHORT),
        says="'similar-looks' is given twice",
    ),
    Case(
        "simulate-together-an-experiment-without-a-namespace",
        ("simulate", "{spec}", "nons.yaml", "--db", "{db}", "--replace", *SHORT),
        says="'similar-looks' and 'similar-looks-v2' could hold the same users",
        files={
            "nons.yaml": _spec_with(
                KEY, SEED, ("namespace:\n  name: similar-looks\n  range: [0.0, 0.7]\n", "")
            )
        },
    ),
    Case(
        "simulate-together-overlapping-namespace-ranges",
        ("simulate", "{spec}", "overlap.yaml", "--db", "{db}", "--replace", *SHORT),
        says="[0, 0.7) and [0.5, 1) of namespace 'similar-looks' overlap",
        files={"overlap.yaml": _spec_with(KEY, SEED, ("range: [0.0, 0.7]", "range: [0.5, 1.0]"))},
    ),
    Case(
        "simulate-together-experiments-with-different-controls",
        ("simulate", "{spec}", "other.yaml", "--db", "{db}", "--replace", *SHORT),
        says="have different first variants",
        files={
            "other.yaml": _spec_with(
                KEY, SEED, OTHER_RANGE, ("encoder: cnn-pca ", "encoder: finetuned ")
            )
        },
    ),
    Case(
        "simulate-together-a-fault-of-an-ambiguous-variant",
        (
            "simulate",
            "{spec}",
            "other.yaml",
            "--db",
            "{db}",
            "--replace",
            "--drop-exposures",
            "treatment=0.1",
            *SHORT,
        ),
        says="name the experiment too, e.g. similar-looks:treatment=0.1",
        files={"other.yaml": OTHER},
    ),
    Case(
        "simulate-a-fault-of-an-experiment-not-simulated",
        ("simulate", "{spec}", "--db", "{db}", "--replace", "--module-failures", "nope:x=0.1"),
        says="'nope' is not an experiment of this simulation",
    ),
    Case(
        "simulate-replace-part-of-a-joint-run",
        ("simulate", "{spec}", "--db", "{db}", "--replace", *SHORT),
        says="'similar-looks' was simulated together with 'similar-looks-v2'",
        files={"other.yaml": OTHER, "joint.txt": _joint_run},
    ),
    Case(
        "simulate-over-events-no-simulation-wrote",
        ("simulate", "april.yaml", "--db", "{db}", "--replace", "--days", "2"),
        says="1 events from 2026-03-30 to 2026-04-07 were not written by a looklift simulation",
        files={
            "april.yaml": _spec_with(KEY, SEED, *APRIL),
            "ingested.txt": _ingested(
                "events", {"event_id": "app-1", "user_id": "u0000001", "event_type": "tap"}
            ),
        },
    ),
    Case(
        "simulate-an-experiment-whose-exposures-no-simulation-wrote",
        ("simulate", "april.yaml", "--db", "{db}", "--replace", "--days", "2"),
        says="'similar-looks-v2' already has 1 exposures that no simulation wrote",
        files={
            "april.yaml": _spec_with(KEY, SEED, *APRIL),
            "ingested.txt": _ingested(
                "exposures",
                {"experiment": "similar-looks-v2", "variant": "control", "user_id": "u0000001"},
            ),
        },
    ),
]
