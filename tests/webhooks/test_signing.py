"""Standard Webhooks signing: the published vectors, rotation headers, verification rules.

Every signature we make is checked with the official ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from webhook_harness import OTHER_SECRET, SECRET, official_verify

from divergence.errors import BadRequestError
from divergence.webhooks.signing import (
    SignatureError,
    new_secret,
    secret_fingerprint,
    secret_key,
    sign,
    verify,
    webhook_headers,
)


@pytest.fixture(scope="module")
def vectors(realdata: Path) -> list[dict[str, Any]]:
    path = realdata / "vectors" / "standard_webhooks_vectors.json"
    if not path.is_file():
        pytest.skip(f"Standard Webhooks vectors not found at {path}")
    loaded: list[dict[str, Any]] = json.loads(path.read_text())["vectors"]
    return loaded


def _vector(vectors: list[dict[str, Any]], scheme_prefix: str) -> dict[str, Any]:
    return next(v for v in vectors if v["scheme"].startswith(scheme_prefix))


def test_signing_v1_vector_matches_published_signature(vectors: list[dict[str, Any]]) -> None:
    v = _vector(vectors, "v1 ")
    key = secret_key(v["secret"])
    ours = sign(
        key,
        msg_id=v["webhook-id"],
        timestamp_s=int(v["webhook-timestamp"]),
        body=v["body"].encode(),
    )
    assert ours == v["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    stamp = datetime.fromtimestamp(int(v["webhook-timestamp"]), UTC)
    official = standardwebhooks.Webhook(v["secret"]).sign(v["webhook-id"], stamp, v["body"])
    assert official == ours


def test_signing_v1_vector_verifies_with_ours_and_official(vectors: list[dict[str, Any]]) -> None:
    v = _vector(vectors, "v1 ")
    headers = {k: v[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    now = int(v["webhook-timestamp"])
    body = v["body"].encode()
    assert verify(body, headers, [secret_key(v["secret"])], now_s=now) == v["webhook-id"]
    assert official_verify(v["secret"], body, headers, now_s=now) == v["webhook-id"]


def test_signing_negative_vector_is_refused_by_ours_and_official(
    vectors: list[dict[str, Any]],
) -> None:
    v = _vector(vectors, "negative")
    assert v["expect_valid"] is False
    headers = {k: v[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    now = int(v["webhook-timestamp"])
    with pytest.raises(SignatureError, match="no matching v1 signature"):
        verify(v["body"].encode(), headers, [secret_key(v["secret"])], now_s=now)
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
        official_verify(v["secret"], v["body"].encode(), headers, now_s=now)


def test_signing_v1a_vector_not_implemented(vectors: list[dict[str, Any]]) -> None:
    _vector(vectors, "v1a ")
    pytest.skip("asymmetric ed25519 (v1a) signing is not implemented (optional in the spec)")


def test_signing_hmac_by_hand() -> None:
    # The spec's recipe with the standard library: HMAC-SHA256(key, "id.ts.body"), base64.
    key = bytes(range(32))
    body = b'{"a":1}'
    digest = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert sign(key, msg_id="msg_1", timestamp_s=1_700_000_000, body=body) == expected


def test_signing_rotation_header_verifies_with_either_secret() -> None:
    body = b'{"type":"webhook.test"}'
    keys = [secret_key(OTHER_SECRET), secret_key(SECRET)]
    headers = webhook_headers(keys, msg_id="msg_x", timestamp_s=1_700_000_000, body=body)
    first, second = headers["webhook-signature"].split(" ")
    assert first == sign(keys[0], msg_id="msg_x", timestamp_s=1_700_000_000, body=body)
    assert second == sign(keys[1], msg_id="msg_x", timestamp_s=1_700_000_000, body=body)
    for secret in (SECRET, OTHER_SECRET):
        assert official_verify(secret, body, headers, now_s=1_700_000_000) == "msg_x"
    unrelated = new_secret()
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        official_verify(unrelated, body, headers, now_s=1_700_000_000)


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_signing_verify_timestamp_tolerance(skew: int, ok: bool) -> None:
    key = secret_key(SECRET)
    headers = webhook_headers([key], msg_id="msg_t", timestamp_s=1_700_000_000, body=b"{}")
    now = 1_700_000_000 + skew
    if ok:
        assert verify(b"{}", headers, [key], now_s=now) == "msg_t"
    else:
        with pytest.raises(SignatureError, match="more than 300 s from now"):
            verify(b"{}", headers, [key], now_s=now)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": ""}, "missing"),
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-timestamp": "1700000000.5"}, "integer seconds"),
        ({"webhook-timestamp": "soon"}, "integer seconds"),
    ],
)
def test_signing_verify_refuses_bad_headers(change: dict[str, str], reason: str) -> None:
    key = secret_key(SECRET)
    headers = webhook_headers([key], msg_id="msg_h", timestamp_s=1_700_000_000, body=b"{}")
    with pytest.raises(SignatureError, match=reason):
        verify(b"{}", {**headers, **change}, [key], now_s=1_700_000_000)


def test_signing_verify_refuses_a_changed_body() -> None:
    key = secret_key(SECRET)
    headers = webhook_headers([key], msg_id="msg_b", timestamp_s=1_700_000_000, body=b"{}")
    with pytest.raises(SignatureError, match="no matching"):
        verify(b"{ }", headers, [key], now_s=1_700_000_000)


def test_signing_new_secret_is_32_bytes_and_accepted_by_official() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(secret_key(secret)) == 32
    assert secret != new_secret()
    body = b"{}"
    headers = webhook_headers(
        [secret_key(secret)], msg_id="m", timestamp_s=1_700_000_000, body=body
    )
    assert official_verify(secret, body, headers, now_s=1_700_000_000) == "m"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "expected 'whsec_'"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "found 23"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "found 65"),
    ],
)
def test_signing_secret_key_errors_never_show_the_secret(secret: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as info:
        secret_key(secret)
    assert secret not in str(info.value)
    assert secret.removeprefix("whsec_") not in str(info.value)


def test_signing_fingerprint_is_sha256_prefix() -> None:
    assert secret_fingerprint(SECRET) == hashlib.sha256(SECRET.encode()).hexdigest()[:12]
    assert secret_fingerprint(SECRET) != secret_fingerprint(OTHER_SECRET)
