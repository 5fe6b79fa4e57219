"""The HTTP service: assign a user, serve their variant's similar looks, log what happened.

:func:`create_app` builds the FastAPI application for a store and experiment specs.
Routes (versioned; OpenAPI docs at ``/docs``):

- ``GET /v1/recommendations?user_id=&item_id=&k=[&experiment=][&ts=][&attr=value...]``:
  assigns the user exactly as ``looklift assign`` does (hashing, targeting on the
  other query parameters, holdouts, forced units), returns the variant's neighbors
  of the item with a ``view_id``, and logs one exposure (the first time this
  process serves the user the experiment) and one impression per position;
- ``POST /v1/events``: taps and purchases, one or a batch, idempotent by
  ``event_id``; a tap names the ``view_id`` and ``position`` it came from;
- ``GET /v1/assign?user_id=[&experiment=][&log=true]``: the variant only;
- ``GET /healthz`` and ``GET /metrics`` (Prometheus text format).

A request is answered 2xx only once its rows are durable in the write-ahead log
(:mod:`serving.wal`). A bad request gets a 4xx JSON error naming the field
(``{"error": ..., "field": ...}``) and nothing is logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, model_validator

from abtest.assignment import Assigner
from abtest.spec import ExperimentSpec
from abtest.store import Store
from serving.metrics import ServiceMetrics
from serving.neighbors import NeighborTable
from serving.wal import LoopCommitter, Row, WriteAheadLog
from serving.writer import StoreWriter, replay

MAX_ID = 256
"""Longest user, event or view id accepted, in characters."""
MAX_K = 100
RESERVED = {"user_id", "item_id", "k", "experiment", "log", "ts", "attributes"}
"""Query parameters that are not user attributes."""
UserId = Annotated[str, Query(min_length=1, max_length=MAX_ID)]
Positions = Annotated[int, Query(ge=1, le=MAX_K)]


@dataclass
class ServiceConfig:
    """What a service serves: the store, the experiments, where the log lives."""

    db: Path
    specs: Sequence[ExperimentSpec]
    wal: Path | None = None
    """The write-ahead log's folder (default: ``<db>.serving-log`` beside the database;
    DuckDB's own log is ``<db>.wal``)."""
    log_exposures: bool = True
    """False: serve without logging anything (to measure what durability costs)."""

    def wal_folder(self) -> Path:
        return self.wal or self.db.with_name(self.db.name + ".serving-log")


class Problem(Exception):
    """A bad request: answered with ``status`` and a JSON error naming ``field``."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


class EventIn(BaseModel):
    """A tap or a purchase, as an app reports it."""

    event_id: str = Field(min_length=1, max_length=MAX_ID)
    user_id: str = Field(min_length=1, max_length=MAX_ID)
    event_type: Literal["tap", "purchase"]
    view_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    position: int | None = Field(default=None, ge=1)
    item_id: int | None = None
    source_item_id: int | None = None
    value: float | None = None
    ts: dt.datetime | None = None

    @model_validator(mode="after")
    def _tap_names_its_showing(self) -> EventIn:
        if self.event_type == "tap" and (self.view_id is None or self.position is None):
            missing = "view_id" if self.view_id is None else "position"
            raise ValueError(f"{missing}: a tap names the view_id and position it came from")
        return self


class EventsIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=10_000)


@dataclass
class Service:
    """The running parts behind the routes."""

    config: ServiceConfig
    store: Store
    wal: WriteAheadLog
    writer: StoreWriter
    neighbors: NeighborTable
    assigners: dict[str, Assigner]
    metrics: ServiceMetrics
    replayed: int
    exposed: set[tuple[str, str]] = field(default_factory=set)
    committer: LoopCommitter = field(init=False)

    def __post_init__(self) -> None:
        self.committer = LoopCommitter(self.wal)

    async def durable(self, rows: list[Row]) -> None:
        """Return once ``rows`` are fsynced in the log."""
        if rows and self.config.log_exposures:
            began = time.perf_counter()
            await self.committer.commit(rows)
            self.metrics.durable_seconds.observe(time.perf_counter() - began)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


class _Measure:
    """Requests and latencies per route and status (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a good part of the throughput)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            service: Service | None = getattr(scope["app"].state, "service", None)
            if service is not None:
                path = getattr(scope.get("route"), "path", "unmatched")
                service.metrics.requests.labels(path, str(status[0])).inc()
                service.metrics.latency.labels(path).observe(time.perf_counter() - began)


def _json(content: Any) -> Response:
    """A JSON response of plain data, without FastAPI's generic encoder."""
    return Response(json.dumps(content, separators=(",", ":")), media_type="application/json")


def create_app(config: ServiceConfig) -> FastAPI:
    """The service's FastAPI application; its lifespan opens the store, replays the
    log, loads the neighbors and starts the log's and the store's writers."""
    if not config.specs:
        raise ValueError("at least one experiment spec is needed")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(config.db, create=False)
        folder = config.wal_folder()
        replayed = replay(store, folder) if folder.exists() else 0
        for old in folder.glob("*.jsonl") if folder.exists() else ():
            old.unlink()  # stored: the replay skipped what was there already
        encoders = {v.encoder for s in config.specs for v in s.variants if v.encoder}
        neighbors = NeighborTable.load(store, encoders)
        writer = StoreWriter(store)
        wal = WriteAheadLog(folder, writer.submit)
        writer.start(wal)
        metrics = ServiceMetrics()
        service = Service(
            config,
            store,
            wal,
            writer,
            neighbors,
            {s.key: Assigner(s) for s in config.specs},
            metrics,
            replayed,
        )
        metrics.watch(service)
        app.state.service = service
        # The neighbors are hundreds of thousands of long-lived tuples: leave them out of
        # the garbage collector's full passes, which would otherwise pause requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            wal.close()
            writer.stop()
            if writer.errors == 0:  # every logged row is stored: the log is done with
                for done in folder.glob("*.jsonl"):
                    done.unlink()
            store.close()

    app = FastAPI(
        title="looklift",
        version="1",
        summary="Assign, recommend and log: the live half of a visually-similar-items test.",
        lifespan=lifespan,
    )

    app.add_middleware(_Measure)

    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> JSONResponse:
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        body = getattr(exc, "body", None)
        member = "EventsIn" if isinstance(body, dict) and "events" in body else "EventIn"
        errors.sort(key=lambda e: 0 if any(member in str(p) for p in e.get("loc", ())) else 1)
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = [
            str(p)
            for p in first.get("loc", ())
            if p not in ("query", "body")
            and not isinstance(p, int)
            and not any(t in str(p) for t in ("EventIn", "EventsIn"))
        ]
        name = ".".join(where) or "body"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if ":" in message.split(" ")[0]:  # "view_id: a tap names..." names its own field
            name = name + "." + message.split(":")[0] if name != "body" else message.split(":")[0]
        return JSONResponse({"error": f"{name}: {message}", "field": name}, status_code=422)

    def service_of(request: Request) -> Service:
        return request.app.state.service  # type: ignore[no-any-return]

    def assigner_for(service: Service, experiment: str | None) -> Assigner:
        if experiment is None:
            if len(service.assigners) == 1:
                return next(iter(service.assigners.values()))
            known = ", ".join(service.assigners)
            raise Problem(400, "experiment", f"experiment: name one of {known}")
        found = service.assigners.get(experiment)
        if found is None:
            known = ", ".join(service.assigners)
            raise Problem(404, "experiment", f"unknown experiment {experiment!r} (known: {known})")
        return found

    def attributes(request: Request, user_id: str, unit: str) -> dict[str, Any]:
        """The user's attributes: plain query parameters (as text), and the typed ones of
        ``attributes`` (a JSON object, e.g. ``{"is_new": true, "age": 31}``)."""
        attrs: dict[str, Any] = {k: v for k, v in request.query_params.items() if k not in RESERVED}
        typed = request.query_params.get("attributes")
        if typed is not None:
            try:
                parsed = json.loads(typed)
            except json.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                raise Problem(422, "attributes", "attributes: a JSON object of user attributes")
            attrs |= parsed
        attrs[unit] = user_id
        return attrs

    def when(ts: dt.datetime | None) -> str:
        """``ts`` (a client's time, for backfills and simulations) in UTC, or now."""
        if ts is None:
            return _now()
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return ts.isoformat(sep=" ")

    def exposure(service: Service, key: str, variant: str, user_id: str, ts: str) -> list[Row]:
        if (key, user_id) in service.exposed:
            return []
        service.exposed.add((key, user_id))
        row = {"table": "exposures", "experiment": key, "variant": variant}
        return [{**row, "user_id": user_id, "ts": ts}]

    @app.get("/v1/recommendations")
    async def recommendations(
        request: Request,
        user_id: UserId,
        item_id: int,
        k: Positions = 10,
        experiment: str | None = None,
        ts: dt.datetime | None = None,
    ) -> Response:
        """The user's variant and its similar looks of ``item_id``; logs the exposure and
        one impression per position."""
        service = service_of(request)
        assigner = assigner_for(service, experiment)
        spec = assigner.spec
        assignment = assigner.assign(attributes(request, user_id, spec.unit))
        encoder = assignment.encoder if assignment else spec.variants[0].encoder
        found = service.neighbors.get(encoder or "", item_id, k)
        if found is None:
            raise Problem(404, "item_id", f"item_id {item_id}: no neighbors for {encoder!r}")
        view_id = uuid.uuid4().hex
        at = when(ts)
        view: Row = {
            "table": "views",
            "view_id": view_id,
            "ts": at,
            "user_id": user_id,
            "source_item_id": item_id,
            "items": [n for n, _ in found],
        }
        if assignment is not None and assignment.exposed:
            exposed = exposure(service, spec.key, assignment.variant, user_id, at)
            if exposed:
                view["exposure"] = [spec.key, assignment.variant]
        rows = [view]
        await service.durable(rows)
        items = [
            {"position": i, "item_id": n, "score": s} for i, (n, s) in enumerate(found, start=1)
        ]
        return _json(
            {
                "experiment": spec.key,
                "variant": assignment.variant if assignment else None,
                "in_experiment": assignment is not None,
                "encoder": encoder,
                "view_id": view_id,
                "items": items,
            }
        )

    @app.get("/v1/assign")
    async def assign(
        request: Request,
        user_id: UserId,
        experiment: str | None = None,
        log: bool = True,
        ts: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The user's variant only (for apps that render the module themselves); logs the
        exposure unless ``log=false``."""
        service = service_of(request)
        assigner = assigner_for(service, experiment)
        spec = assigner.spec
        attrs = attributes(request, user_id, spec.unit)
        outcome = assigner.decide(attrs)  # the reason; the assignment when in a variant
        assignment = assigner.assign(attrs) if outcome.variant_index >= 0 else None
        if log and assignment is not None and assignment.exposed:
            await service.durable(
                exposure(service, spec.key, assignment.variant, user_id, when(ts))
            )
        return {
            "experiment": spec.key,
            "user_id": user_id,
            "variant": assignment.variant if assignment else None,
            "encoder": assignment.encoder if assignment else None,
            "in_experiment": assignment is not None,
            "reason": outcome.reason,
        }

    @app.post("/v1/events")
    async def events(request: Request, body: EventsIn | EventIn) -> dict[str, int]:
        """Taps and purchases (one, or ``{"events": [...]}``); a replayed ``event_id`` is
        stored once."""
        service = service_of(request)
        listed = body.events if isinstance(body, EventsIn) else [body]
        now = _now()
        rows = [
            {
                "table": "events",
                **e.model_dump(exclude={"ts"}),
                "ts": (e.ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" "))
                if e.ts is not None and e.ts.tzinfo is not None
                else (e.ts.isoformat(sep=" ") if e.ts is not None else now),
            }
            for e in listed
        ]
        await service.durable(rows)
        return {"accepted": len(rows)}

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        service = service_of(request)
        return {
            "status": "ok" if service.writer.errors == 0 else "degraded",
            "experiments": list(service.assigners),
            "log_queue": service.committer.depth,
            "store_lag_batches": service.writer.lag,
            "rows_stored": service.writer.rows_stored,
            "replayed_on_start": service.replayed,
            "last_store_error": service.writer.last_error,
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        text, kind = service_of(request).metrics.render()
        return PlainTextResponse(text, media_type=kind)

    return app
