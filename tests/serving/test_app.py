"""The service's routes against the real app (FastAPI's test client, a real store and
log): what each returns, what it logs, and every bad request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from abtest.assignment import Assigner
from abtest.store import Store
from serving.app import ServiceConfig, create_app
from tests.serving.conftest import live_spec


def client_for(db: Path, **config: Any) -> TestClient:
    return TestClient(create_app(ServiceConfig(db, [live_spec()], **config)))


def stored(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Store(db, read_only=True) as store:
        return {
            "exposures": store.con.execute(
                "SELECT experiment, variant, user_id FROM exposures ORDER BY ts"
            ).fetchall(),
            "events": store.con.execute(
                "SELECT event_id, user_id, event_type, item_id, source_item_id, position, "
                "view_id, value FROM events ORDER BY event_id"
            ).fetchall(),
        }


def neighbors_of(db: Path, encoder: str, item: int, k: int) -> list[int]:
    with Store(db, read_only=True) as store:
        rows = store.con.execute(
            "SELECT neighbor_id FROM neighbors WHERE encoder = ? AND item_id = ? "
            "ORDER BY rank LIMIT ?",
            [encoder, item, k],
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_recommendations_assign_serve_and_log(live_db: Path, item_id: int) -> None:
    assigner = Assigner(live_spec())
    users = [f"user-{i}" for i in range(30)]
    with client_for(live_db) as client:
        answers = []
        for user in users:
            r = client.get(
                "/v1/recommendations",
                params={"user_id": user, "item_id": item_id, "k": 5, "platform": "ios"},
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
        again = client.get(
            "/v1/recommendations", params={"user_id": users[0], "item_id": item_id, "k": 5}
        ).json()
    for user, answer in zip(users, answers, strict=True):
        expected = assigner.assign({"user_id": user, "platform": "ios"})
        assert expected is not None and answer["variant"] == expected.variant
        assert answer["encoder"] == expected.encoder
        items = [i["item_id"] for i in answer["items"]]
        assert items == neighbors_of(live_db, expected.encoder, item_id, 5)
        assert [i["position"] for i in answer["items"]] == [1, 2, 3, 4, 5]
    assert {a["variant"] for a in answers} == {"control", "treatment"}
    data = stored(live_db)
    # one exposure per user (the second request of users[0] logs none), 5 impressions each
    assert sorted(e[2] for e in data["exposures"]) == sorted(users)
    impressions = [e for e in data["events"] if e[2] == "impression"]
    assert len(impressions) == 5 * (len(users) + 1)
    views = {e[6] for e in impressions}
    assert len(views) == len(users) + 1 and again["view_id"] in views
    first = [e for e in impressions if e[6] == answers[0]["view_id"]]
    assert [(e[5], e[3], e[4]) for e in sorted(first, key=lambda e: e[5])] == [
        (i["position"], i["item_id"], item_id) for i in answers[0]["items"]
    ]


def test_targeting_reads_query_attributes_and_forced_units_are_not_exposures(
    live_db: Path, item_id: int
) -> None:
    with client_for(live_db) as client:
        tv = client.get(
            "/v1/recommendations",
            params={"user_id": "couch", "item_id": item_id, "platform": "tv"},
        ).json()
        qa = client.get("/v1/assign", params={"user_id": "qa-user"}).json()
    assert tv["in_experiment"] is False and tv["variant"] is None
    assert tv["encoder"] == "cnn-pca" and len(tv["items"]) == 10  # the control's experience
    assert qa == {
        "experiment": "live-looks",
        "user_id": "qa-user",
        "variant": "treatment",
        "encoder": "finetuned",
        "in_experiment": True,
        "reason": "forced",
    }
    assert stored(live_db)["exposures"] == []  # neither a targeted-out nor a forced unit


def test_assign_logs_the_exposure_unless_told_not_to(live_db: Path) -> None:
    with client_for(live_db) as client:
        quiet = client.get("/v1/assign", params={"user_id": "u1", "log": "false"}).json()
        logged = client.get("/v1/assign", params={"user_id": "u2"}).json()
    expected = Assigner(live_spec()).assign("u1")
    assert expected is not None and quiet["variant"] == expected.variant
    assert [e[2] for e in stored(live_db)["exposures"]] == ["u2"]
    assert logged["reason"] == "assigned"


def test_events_are_idempotent_by_event_id(live_db: Path, item_id: int) -> None:
    with client_for(live_db) as client:
        shown = client.get(
            "/v1/recommendations", params={"user_id": "u1", "item_id": item_id, "k": 3}
        ).json()
        tap = {
            "event_id": "tap-1",
            "user_id": "u1",
            "event_type": "tap",
            "view_id": shown["view_id"],
            "position": 2,
            "item_id": shown["items"][1]["item_id"],
            "source_item_id": item_id,
        }
        buy = {**tap, "event_id": "buy-1", "event_type": "purchase", "value": 42.5}
        assert client.post("/v1/events", json=tap).json() == {"accepted": 1}
        assert client.post("/v1/events", json={"events": [tap, buy]}).json() == {"accepted": 2}
        assert client.post("/v1/events", json={"events": [buy]}).status_code == 200
    events = {e[0]: e for e in stored(live_db)["events"]}
    assert events["tap-1"][2:7] == (
        "tap",
        shown["items"][1]["item_id"],
        item_id,
        2,
        shown["view_id"],
    )
    assert events["buy-1"][7] == 42.5
    assert sum(1 for e in events.values() if e[2] in ("tap", "purchase")) == 2


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("get", "/v1/recommendations", {"item_id": 1}, 422, "user_id"),
        ("get", "/v1/recommendations", {"user_id": "x" * 257, "item_id": 1}, 422, "user_id"),
        ("get", "/v1/recommendations", {"user_id": "u", "item_id": "abc"}, 422, "item_id"),
        ("get", "/v1/recommendations", {"user_id": "u", "item_id": 1, "k": 0}, 422, "k"),
        ("get", "/v1/recommendations", {"user_id": "u", "item_id": -5}, 404, "item_id"),
        ("get", "/v1/assign", {"user_id": "u", "experiment": "nope"}, 404, "experiment"),
        ("get", "/v1/assign", {}, 422, "user_id"),
        ("post", "/v1/events", "not json", 422, "body"),
        (
            "post",
            "/v1/events",
            {"event_id": "e", "user_id": "u", "event_type": "tap", "view_id": "v", "position": 0},
            422,
            "position",
        ),
        (
            "post",
            "/v1/events",
            {"event_id": "e", "user_id": "u", "event_type": "tap", "position": 1},
            422,
            "view_id",
        ),
        (
            "post",
            "/v1/events",
            {"event_id": "e", "user_id": "u", "event_type": "view"},
            422,
            "event_type",
        ),
    ],
)
def test_bad_requests_name_the_field_and_log_nothing(
    live_db: Path, method: str, path: str, payload: Any, status: int, field: str
) -> None:
    with client_for(live_db) as client:
        if method == "get":
            r = client.get(path, params=payload)
        elif isinstance(payload, str):
            r = client.post(path, content=payload, headers={"content-type": "application/json"})
        else:
            r = client.post(path, json=payload)
        body = r.json()
        logged = client.app.state.service.wal.rows_committed  # type: ignore[attr-defined]
    assert r.status_code == status, body
    assert field in body["field"] and field in body["error"], body
    assert f"{body['field']}: {body['field']}:" not in body["error"], body  # named once
    assert logged == 0 and stored(live_db) == {"exposures": [], "events": []}


def test_health_metrics_and_docs(live_db: Path, item_id: int) -> None:
    with client_for(live_db) as client:
        client.get("/v1/recommendations", params={"user_id": "u", "item_id": item_id})
        health = client.get("/healthz").json()
        metrics = client.get("/metrics").text
        docs = client.get("/docs")
        schema = client.get("/openapi.json").json()
    assert health["status"] == "ok" and health["experiments"] == ["live-looks"]
    assert 'looklift_requests_total{route="/v1/recommendations",status="200"} 1.0' in metrics
    assert "looklift_request_seconds_bucket" in metrics and "looklift_log_queue_depth" in metrics
    assert "looklift_durable_seconds_count 1.0" in metrics
    assert docs.status_code == 200 and "/v1/events" in schema["paths"]
    documented = schema["paths"]["/v1/recommendations"]["get"]  # answered by serving.hot
    assert {p["name"] for p in documented["parameters"]} >= {"user_id", "item_id", "k", "ts"}
    assert {"200", "404", "422"} <= set(documented["responses"])
    assert "log" in {p["name"] for p in schema["paths"]["/v1/assign"]["get"]["parameters"]}


def test_the_get_routes_answer_other_methods_with_405_and_log_nothing(live_db: Path) -> None:
    with client_for(live_db) as client:
        r = client.post("/v1/recommendations", params={"user_id": "u", "item_id": 1})
        logged = client.app.state.service.wal.rows_committed  # type: ignore[attr-defined]
    assert r.status_code == 405 and r.json()["field"] == "method"
    assert logged == 0
