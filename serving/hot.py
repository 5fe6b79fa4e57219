"""The hot routes, ``GET /v1/recommendations`` and ``GET /v1/assign``, answered straight
from ASGI.

They are nearly all of a live service's traffic. Going through FastAPI's middleware
stack and per-request dependency solving costs several times the route's own work
(measured in process on this 2-core machine, the whole app without logging: 200-245 µs
a request through FastAPI's routing, 57-77 µs with the routes answered here), so
:class:`Front`, the application's own middleware, answers them itself and hands every
other request to FastAPI. The query is validated by the pydantic models below, with the
messages FastAPI would give, and the OpenAPI docs describe the two routes from the same
models (:func:`documented_routes`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from abtest.assignment import Assigner
from serving.wal import Row

if TYPE_CHECKING:
    from serving.app import Service

MAX_ID = 256
"""Longest user, event or view id accepted, in characters."""
MAX_K = 100


class Problem(Exception):
    """A bad request: answered with ``status`` and a JSON error naming ``field``."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


class _Query(BaseModel):
    """Query parameters not named here are user attributes (as text)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    user_id: str = Field(min_length=1, max_length=MAX_ID, description="The user to assign.")
    experiment: str | None = Field(
        default=None, description="The experiment (needed when the service runs several)."
    )
    ts: dt.datetime | None = Field(
        default=None,
        description="When it happened (default: now; UTC unless it names its zone), for "
        "backfills and simulations.",
    )
    attributes: str | None = Field(
        default=None,
        description='Typed user attributes as a JSON object, e.g. {"is_new": true, "age": 31}; '
        "any other query parameter is an attribute too, as text.",
    )

    @field_validator("attributes")
    @classmethod
    def _a_json_object(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                raise ValueError("a JSON object of user attributes")
        return text

    def user_attributes(self, unit: str) -> dict[str, Any]:
        """What targeting reads: the other query parameters, the typed ``attributes``,
        and the unit's id under the spec's unit name."""
        attrs: dict[str, Any] = dict(self.model_extra or {})
        if self.attributes is not None:
            attrs |= json.loads(self.attributes)
        attrs[unit] = self.user_id
        return attrs

    def when(self) -> str:
        """``ts`` in UTC without its zone, or now."""
        ts = self.ts
        if ts is None:
            return now()
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return ts.isoformat(sep=" ")


class RecommendationsQuery(_Query):
    item_id: int = Field(description="The item whose similar looks are shown.")
    k: int = Field(default=10, ge=1, le=MAX_K, description="How many neighbors to show.")


class AssignQuery(_Query):
    log: bool = Field(default=True, description="false: do not log the exposure.")


class Item(BaseModel):
    position: int
    item_id: int
    score: float


class Recommendations(BaseModel):
    experiment: str
    variant: str | None
    in_experiment: bool
    encoder: str | None
    view_id: str
    items: list[Item]


class Assignment(BaseModel):
    experiment: str
    user_id: str
    variant: str | None
    encoder: str | None
    in_experiment: bool
    reason: str


class Error(BaseModel):
    error: str
    field: str


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


def validation_problem(errors: list[Any]) -> Problem:
    """The first of pydantic's errors as a 422 naming its field."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    name = ".".join(str(p) for p in first.get("loc", ())) or "query"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return Problem(422, name, f"{name}: {message}")


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


def exposure(service: Service, key: str, variant: str, user_id: str, ts: str) -> Row | None:
    """The exposure row, the first time this process exposes the user to ``key``."""
    if (key, user_id) in service.exposed:
        return None
    service.exposed.add((key, user_id))
    return {"table": "exposures", "experiment": key, "variant": variant, "user_id": user_id} | {
        "ts": ts
    }


async def recommendations(service: Service, query: RecommendationsQuery) -> dict[str, Any]:
    """The user's variant and its similar looks of ``item_id``; logs the exposure and one
    impression per position (as one compact ``views`` row, expanded by the store writer)."""
    assigner = assigner_for(service, query.experiment)
    spec = assigner.spec
    assignment = assigner.assign(query.user_attributes(spec.unit))
    encoder = assignment.encoder if assignment else spec.variants[0].encoder
    found = service.neighbors.get(encoder or "", query.item_id, query.k)
    if found is None:
        raise Problem(404, "item_id", f"item_id {query.item_id}: no neighbors for {encoder!r}")
    view_id = uuid.uuid4().hex
    at = query.when()
    view: Row = {
        "table": "views",
        "view_id": view_id,
        "ts": at,
        "user_id": query.user_id,
        "source_item_id": query.item_id,
        "items": [n for n, _ in found],
    }
    if assignment is not None and assignment.exposed:
        first = exposure(service, spec.key, assignment.variant, query.user_id, at)
        view |= {"exposure": [spec.key, assignment.variant]} if first else {}
    await service.durable([view])
    return {
        "experiment": spec.key,
        "variant": assignment.variant if assignment else None,
        "in_experiment": assignment is not None,
        "encoder": encoder,
        "view_id": view_id,
        "items": [
            {"position": i, "item_id": n, "score": s} for i, (n, s) in enumerate(found, start=1)
        ],
    }


async def assign(service: Service, query: AssignQuery) -> dict[str, Any]:
    """The user's variant only (for apps that render the module themselves); logs the
    exposure unless ``log=false``."""
    assigner = assigner_for(service, query.experiment)
    spec = assigner.spec
    attrs = query.user_attributes(spec.unit)
    outcome = assigner.decide(attrs)  # the reason; the assignment when in a variant
    assignment = assigner.assign(attrs) if outcome.variant_index >= 0 else None
    if query.log and assignment is not None and assignment.exposed:
        row = exposure(service, spec.key, assignment.variant, query.user_id, query.when())
        if row is not None:
            await service.durable([row])
    return {
        "experiment": spec.key,
        "user_id": query.user_id,
        "variant": assignment.variant if assignment else None,
        "encoder": assignment.encoder if assignment else None,
        "in_experiment": assignment is not None,
        "reason": outcome.reason,
    }


Handler = Callable[["Service", Any], Awaitable[dict[str, Any]]]
HOT: dict[str, tuple[type[_Query], Handler]] = {
    "/v1/recommendations": (RecommendationsQuery, recommendations),
    "/v1/assign": (AssignQuery, assign),
}


def _documented(
    path: str, summary: str, doc: Callable[..., Any], answer: type[BaseModel]
) -> APIRoute:
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": Error, "description": what}
        for code, what in ((400, "Which experiment?"), (404, "Unknown"), (422, "Invalid"))
    }
    return APIRoute(
        path,
        doc,
        methods=["GET"],
        response_model=answer,
        summary=summary,
        responses=responses,
        tags=["live"],
    )


def _recommendations_doc(query: Annotated[RecommendationsQuery, Query()]) -> Recommendations:
    """The user's variant and its similar looks of ``item_id``, with a ``view_id`` for the
    taps; logs the exposure (the first time) and one impression per position."""
    raise NotImplementedError  # documentation only: Front answers this route


def _assign_doc(query: Annotated[AssignQuery, Query()]) -> Assignment:
    """The user's variant only, for apps that render the module themselves; logs the
    exposure unless ``log=false``."""
    raise NotImplementedError  # documentation only: Front answers this route


def documented_routes() -> list[APIRoute]:
    """The hot routes as FastAPI would declare them, for the OpenAPI schema only."""
    return [
        _documented("/v1/recommendations", "Recommend", _recommendations_doc, Recommendations),
        _documented("/v1/assign", "Assign", _assign_doc, Assignment),
    ]


_JSON = [(b"content-type", b"application/json")]


def _count(service: Service, route: str, status: int, began: float) -> None:
    service.metrics.requests.labels(route, str(status)).inc()
    service.metrics.latency.labels(route).observe(time.perf_counter() - began)


class Front:
    """The application's middleware (inside only FastAPI's error and body-limit layers):
    answers the hot routes, hands the rest to FastAPI's routing, and counts every request
    and its latency per route and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        service: Service | None = getattr(scope["app"].state, "service", None)
        hot = HOT.get(scope["path"])
        if hot is not None and service is not None:
            status = await self._answer(service, scope, send, *hot)
            _count(service, scope["path"], status, began)
            return
        sent = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                sent[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if service is not None:
                _count(service, getattr(scope.get("route"), "path", "unmatched"), sent[0], began)

    @staticmethod
    async def _answer(
        service: Service, scope: Any, send: Any, model: type[_Query], handler: Handler
    ) -> int:
        if scope["method"] != "GET":
            status = 405
            body = orjson.dumps({"error": "method: use GET", "field": "method"})
        else:
            try:
                params = dict(parse_qsl(scope["query_string"].decode("latin-1"), True))
                try:
                    query = model.model_validate(params)
                except ValidationError as exc:
                    raise validation_problem(exc.errors(include_url=False)) from None
                status, body = 200, orjson.dumps(await handler(service, query))
            except Problem as problem:
                status = problem.status
                body = orjson.dumps({"error": problem.message, "field": problem.field})
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status
