"""``divergence webhooks``: ``listen`` as a real process receiving from the real worker,
``new-secret`` and ``schema``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import standardwebhooks
from typer.testing import CliRunner
from webhook_harness import LOOPBACK, SECRET, alert_data

from divergence.cli_webhooks import app
from divergence.store.db import AsyncStore, Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.manager import WebhookService
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.payloads import EVENT_SCHEMAS
from divergence.webhooks.signing import secret_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def listener() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {**os.environ, "DIVERGENCE_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "divergence.cli_webhooks", "listen", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/hook"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "") from None
            time.sleep(0.05)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)


def _stop(proc: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    return [orjson.loads(line) for line in out.splitlines()]


def _signed(msg_id: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    signature = standardwebhooks.Webhook(SECRET).sign(msg_id, now, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_cli_listen_prints_each_verified_event_once(
    listener: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = listener
    body = (
        b'{"type":"webhook.test","version":1,"timestamp":"2025-10-10T12:00:00.000000000Z",'
        b'"data":{"message":"hi"}}'
    )
    first = httpx.post(url, content=body, headers=_signed("msg_1", body))
    again = httpx.post(url, content=body, headers=_signed("msg_1", body))
    forged = httpx.post(url, content=body.replace(b"hi", b"ho"), headers=_signed("msg_2", body))
    assert (first.status_code, again.status_code, forged.status_code) == (204, 204, 401)
    assert "no matching v1 signature" in forged.json()["error"]["message"]
    assert _stop(proc) == [
        {
            "webhook_id": "msg_1",
            "type": "webhook.test",
            "version": 1,
            "timestamp": "2025-10-10T12:00:00.000000000Z",
            "data": {"message": "hi"},
        }
    ]


async def test_cli_listen_receives_firing_and_resolved_from_the_worker(
    tmp_path: Path, listener: tuple[subprocess.Popen[bytes], str]
) -> None:
    proc, url = listener
    store = Store(tmp_path / "hooks.duckdb")
    store.migrate()
    astore = AsyncStore(store)
    service = WebhookService(astore, WebhookSettings(allowed_networks=LOOPBACK))
    try:
        await service.create_endpoint(url=url, secret=SECRET)
        await service.enqueue("alert.firing", alert_data("fp1"), event_id="fp1:firing")
        resolved = alert_data("fp1", status="resolved")
        await service.enqueue("alert.resolved", resolved, event_id="fp1:resolved")
        assert await service.worker.run_once() == 2
        await service.enqueue("alert.firing", alert_data("fp1"), event_id="fp1:firing")  # known
        assert await service.worker.run_once() == 0
    finally:
        await service.worker.aclose()
        await asyncio.to_thread(astore.close)
    lines = _stop(proc)
    assert [(line["webhook_id"], line["type"]) for line in lines] == [
        (webhook_id_for("fp1:firing"), "alert.firing"),
        (webhook_id_for("fp1:resolved"), "alert.resolved"),
    ]
    assert lines[1]["data"] == resolved


def test_cli_listen_refuses_a_bad_secret_without_showing_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "divergence.cli_webhooks", "listen", "--secret", "hunter2-plain"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "error: --secret: expected 'whsec_' followed by base64 (value not shown)"
    )
    assert b"hunter2" not in proc.stdout + proc.stderr


def test_cli_new_secret_and_schema() -> None:
    runner = CliRunner()
    secret = runner.invoke(app, ["new-secret"]).output.strip()
    assert len(secret_key(secret)) == 32
    listed = runner.invoke(app, ["schema"])
    assert listed.output.split() == sorted(EVENT_SCHEMAS)
    shown = runner.invoke(app, ["schema", "alert.firing"])
    assert orjson.loads(shown.output) == EVENT_SCHEMAS["alert.firing"]
