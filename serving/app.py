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

The two GET routes, nearly all of the traffic, are answered by :class:`serving.hot.Front`
without FastAPI's per-request machinery; the events, health and metrics routes are
plain FastAPI. A request is answered 2xx only once its rows are durable in the write-ahead log
(:mod:`serving.wal`). A bad request gets a 4xx JSON error naming the field
(``{"error": ..., "field": ...}``) and nothing is logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, model_validator

from abtest.assignment import Assigner
from abtest.spec import ExperimentSpec
from abtest.store import Store
from serving.hot import MAX_ID, Front, documented_routes, now
from serving.metrics import ServiceMetrics
from serving.neighbors import NeighborTable
from serving.wal import LoopCommitter, Row, WriteAheadLog
from serving.writer import StoreWriter, replay


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
            service.committer.close()
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

    app.add_middleware(Front)  # answers GET /v1/recommendations and /v1/assign itself

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=[*documented_routes(), *app.routes],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

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
            own, message = (part.strip() for part in message.split(":", 1))
            name = f"{name}.{own}" if name != "body" else own
        return JSONResponse({"error": f"{name}: {message}", "field": name}, status_code=422)

    def service_of(request: Request) -> Service:
        return request.app.state.service  # type: ignore[no-any-return]

    @app.post("/v1/events")
    async def events(request: Request, body: EventsIn | EventIn) -> dict[str, int]:
        """Taps and purchases (one, or ``{"events": [...]}``); a replayed ``event_id`` is
        stored once."""
        service = service_of(request)
        listed = body.events if isinstance(body, EventsIn) else [body]
        at = now()
        rows = [
            {
                "table": "events",
                **e.model_dump(exclude={"ts"}),
                "ts": (e.ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" "))
                if e.ts is not None and e.ts.tzinfo is not None
                else (e.ts.isoformat(sep=" ") if e.ts is not None else at),
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
