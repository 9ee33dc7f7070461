"""The webhook API on a real uvicorn server: endpoint CRUD, secrets that never come back
(nor reach a log), filters, rotation, the delivery log, replay and the schemas."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from webhook_harness import (
    OTHER_SECRET,
    SECRET,
    T0_NS,
    ManualClock,
    Recorder,
    alert_data,
    public_resolver,
)

from divergence.service.errors import install_error_handlers
from divergence.service.routes_webhooks import router
from divergence.store.db import AsyncStore, Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.manager import WebhookService
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.payloads import EVENT_SCHEMAS
from divergence.webhooks.receiver import ReceiverServer
from divergence.webhooks.signing import secret_fingerprint

S = 10**9
SECRET_PART = SECRET.removeprefix("whsec_")


@dataclass
class StandIn:
    webhooks: WebhookService | None


@dataclass
class Api:
    http: httpx.AsyncClient
    service: WebhookService
    recorder: Recorder
    clock: ManualClock
    runtime: StandIn

    async def create(self, **body: Any) -> dict[str, Any]:
        payload = {"url": "https://hooks.example.com/in", "secret": SECRET, **body}
        response = await self.http.post("/api/webhooks/endpoints", json=payload)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def api(store: Store, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Api]:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    recorder = Recorder(SECRET, clock)
    astore = AsyncStore(store)
    service = WebhookService(
        astore,
        WebhookSettings(jitter=0.0, secret_overlap_s=600),
        clock=clock,
        client=recorder.client(),
        resolver=public_resolver,
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    runtime = StandIn(service)
    app.state.runtime = runtime
    server = ReceiverServer(app)  # any ASGI app: here the API itself
    await server.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        yield Api(http, service, recorder, clock, runtime)
    await server.stop()
    await service.worker.aclose()
    for record in caplog.records:
        assert SECRET_PART not in record.getMessage()
        assert SECRET_PART not in str(record.__dict__)
    astore._writer.shutdown(wait=True)
    astore._reader.shutdown(wait=True)


async def test_routes_create_get_list_never_return_the_secret(api: Api) -> None:
    created = await api.create(
        description="case system", event_types=["alert.*"], labels={"venue": "kraken"}
    )
    endpoint_id = created["endpoint_id"]
    assert created == {
        "endpoint_id": endpoint_id,
        "url": "https://hooks.example.com/in",
        "description": "case system",
        "event_types": ["alert.*"],
        "labels": {"venue": "kraken"},
        "enabled": True,
        "disabled_reason": None,
        "consecutive_failures": 0,
        "created_at": "2025-10-10T12:00:00.000000000Z",
        "updated_at": "2025-10-10T12:00:00.000000000Z",
        "secrets": [
            {
                "fingerprint": secret_fingerprint(SECRET),
                "created_at": "2025-10-10T12:00:00.000000000Z",
                "expires_at": None,
            }
        ],
    }
    one = await api.http.get(f"/api/webhooks/endpoints/{endpoint_id}")
    every = await api.http.get("/api/webhooks/endpoints")
    assert one.json() == created
    assert every.json() == {"endpoints": [created]}
    for response in (one, every):
        assert SECRET_PART not in response.text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"secret": None}, 422, "secret: Field required"),
        ({"secret": 12345}, 422, "secret: Input should be a valid string"),
        ({"secret": "plain-text"}, 400, "secret: expected 'whsec_' followed by base64"),
        ({"url": "ftp://hooks.example.com/"}, 400, "scheme must be http or https"),
        ({"url": "http://10.0.0.1/in"}, 400, "10.0.0.1, which is private"),
        ({"event_types": ["alerts"]}, 400, "'alerts' matches no event type"),
        ({"enabled": "maybe"}, 422, "enabled: Input should be a valid boolean"),
    ],
)
async def test_routes_create_refusals(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    payload = {"url": "https://hooks.example.com/in", "secret": SECRET, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = await api.http.post("/api/webhooks/endpoints", json=payload)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert SECRET_PART not in response.text
    assert (await api.http.get("/api/webhooks/endpoints")).json() == {"endpoints": []}


async def test_routes_a_mistyped_key_does_not_echo_the_secret(api: Api) -> None:
    response = await api.http.post(
        "/api/webhooks/endpoints",
        json={"url": "https://hooks.example.com/in", "secret": SECRET, "secrett": SECRET},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "secrett: Extra inputs are not permitted"
    assert SECRET_PART not in response.text


async def test_routes_patch_rotate_delete(api: Api) -> None:
    endpoint_id = (await api.create())["endpoint_id"]
    api.clock.advance(10)
    patched = await api.http.patch(
        f"/api/webhooks/endpoints/{endpoint_id}",
        json={"event_types": ["alert.firing", "alert.resolved"], "enabled": False},
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["event_types"], body["enabled"], body["disabled_reason"]) == (
        ["alert.firing", "alert.resolved"],
        False,
        "disabled by a user",
    )
    assert body["updated_at"] == "2025-10-10T12:00:10.000000000Z"
    rotated = await api.http.post(
        f"/api/webhooks/endpoints/{endpoint_id}/rotate-secret", json={"secret": OTHER_SECRET}
    )
    assert rotated.status_code == 200
    assert rotated.json()["secrets"] == [
        {
            "fingerprint": secret_fingerprint(OTHER_SECRET),
            "created_at": "2025-10-10T12:00:10.000000000Z",
            "expires_at": None,
        },
        {
            "fingerprint": secret_fingerprint(SECRET),
            "created_at": "2025-10-10T12:00:00.000000000Z",
            "expires_at": "2025-10-10T12:10:10.000000000Z",  # + secret_overlap_s = 600 s
        },
    ]
    assert OTHER_SECRET.removeprefix("whsec_") not in rotated.text
    deleted = await api.http.delete(f"/api/webhooks/endpoints/{endpoint_id}")
    assert deleted.status_code == 204
    missing = await api.http.get(f"/api/webhooks/endpoints/{endpoint_id}")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "status": 404,
            "message": f"no webhook endpoint {endpoint_id!r}",
            "retryable": False,
        }
    }


async def test_routes_test_message_delivery_log_and_replay(api: Api) -> None:
    endpoint_id = (await api.create())["endpoint_id"]
    queued = await api.http.post(f"/api/webhooks/endpoints/{endpoint_id}/test")
    assert queued.status_code == 202
    test_id = queued.json()["webhook_id"]
    await api.service.enqueue("alert.firing", alert_data("fp1"), event_id="a1")
    api.recorder.script = [500]
    assert await api.service.worker.run_once() == 1  # test: 500; a1 waits behind it
    api.clock.advance(5)
    assert await api.service.worker.run_once() == 2  # test: 204, then a1: 204
    log = (await api.http.get(f"/api/webhooks/endpoints/{endpoint_id}/attempts")).json()
    assert [
        (a["webhook_id"], a["attempt"], a["status"], a["error"], a["outcome"])
        for a in log["attempts"]
    ] == [
        (webhook_id_for("a1"), 1, 204, None, "delivered"),
        (test_id, 2, 204, None, "delivered"),
        (test_id, 1, 500, "HTTP 500: nope", "retry"),
    ]
    assert log["attempts"][2]["ts"] == "2025-10-10T12:00:00.000000000Z"
    assert log["next_before_id"] is None
    page = (
        await api.http.get(f"/api/webhooks/endpoints/{endpoint_id}/attempts", params={"limit": 2})
    ).json()
    assert (
        len(page["attempts"]) == 2 and page["next_before_id"] == page["attempts"][1]["attempt_id"]
    )
    # Replay [12:00:00, 12:00:01): both events were enqueued at 12:00:00.
    replayed = await api.http.post(
        f"/api/webhooks/endpoints/{endpoint_id}/replay",
        json={"start": "2025-10-10T12:00:00Z", "end": "2025-10-10T12:00:01Z"},
    )
    assert replayed.json() == {"endpoint_id": endpoint_id, "requeued": 2}
    pending = await api.http.get(
        f"/api/webhooks/endpoints/{endpoint_id}/messages", params={"state": "pending"}
    )
    assert [m["webhook_id"] for m in pending.json()["messages"]] == [webhook_id_for("a1"), test_id]
    assert await api.service.worker.run_once() == 2
    assert api.recorder.ids == [
        test_id,
        test_id,
        webhook_id_for("a1"),
        test_id,
        webhook_id_for("a1"),
    ]


async def test_routes_event_types_and_schemas(api: Api) -> None:
    listed = (await api.http.get("/api/webhooks/event-types")).json()["event_types"]
    assert [t["type"] for t in listed] == sorted(EVENT_SCHEMAS)
    schema = await api.http.get("/api/webhooks/event-types/alert.resolved")
    assert schema.json() == EVENT_SCHEMAS["alert.resolved"]
    unknown = await api.http.get("/api/webhooks/event-types/alert.nope")
    assert unknown.status_code == 404
    assert "unknown event type 'alert.nope'" in unknown.json()["error"]["message"]


async def test_routes_bad_replay_range_and_unknown_state(api: Api) -> None:
    endpoint_id = (await api.create())["endpoint_id"]
    reversed_range = await api.http.post(
        f"/api/webhooks/endpoints/{endpoint_id}/replay",
        json={"start": "2025-10-10T13:00:00Z", "end": "2025-10-10T12:00:00Z"},
    )
    assert reversed_range.status_code == 400
    assert "end must be after start" in reversed_range.json()["error"]["message"]
    bad_state = await api.http.get(
        f"/api/webhooks/endpoints/{endpoint_id}/messages", params={"state": "lost"}
    )
    assert bad_state.status_code == 422
    missing = await api.http.post(
        "/api/webhooks/endpoints/ep_nope/replay", json={"start": "0", "end": "1"}
    )
    assert missing.status_code == 404


async def test_routes_without_a_webhook_service_answer_503(api: Api) -> None:
    api.runtime.webhooks = None
    response = await api.http.get("/api/webhooks/endpoints")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "webhooks are not running in this process"
    assert T0_NS  # the clock fixture is untouched by a refused request
