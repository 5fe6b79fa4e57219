"""The service's Prometheus metrics: requests, latencies, queue depths, rows written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from serving.app import Service

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class ServiceMetrics:
    """One registry per service (so that tests may run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "looklift_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "looklift_request_seconds",
            "Time from request to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.durable_seconds = Histogram(
            "looklift_durable_seconds",
            "Time from a request's rows queued to fsynced in the write-ahead log.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.log_queue = Gauge(
            "looklift_log_queue_depth",
            "Requests waiting for the next group commit.",
            registry=self.registry,
        )
        self.store_lag = Gauge(
            "looklift_store_lag_batches",
            "Committed batches not yet in the store.",
            registry=self.registry,
        )
        self.rows_logged = Gauge(
            "looklift_rows_logged",
            "Rows made durable in the log since start.",
            registry=self.registry,
        )
        self.rows_stored = Gauge(
            "looklift_rows_stored",
            "Rows moved from the log into the store since start (events and exposures).",
            registry=self.registry,
        )
        self.events_stored = Gauge(
            "looklift_events_stored",
            "Events moved into the store since start.",
            registry=self.registry,
        )

    def watch(self, service: Service) -> None:
        """Read the gauges from ``service`` whenever the metrics are scraped."""
        self.log_queue.set_function(lambda: service.committer.depth)
        self.store_lag.set_function(lambda: service.writer.lag)
        self.rows_logged.set_function(lambda: service.wal.rows_committed)
        self.rows_stored.set_function(lambda: service.writer.rows_stored)
        self.events_stored.set_function(lambda: service.writer.events_stored)

    def render(self) -> tuple[str, str]:
        """The metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry).decode(), CONTENT_TYPE_LATEST
