"""Standard Webhooks signing (symmetric ``v1``): secrets, headers, verification.

The spec (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md):

- a secret is ``whsec_`` + base64 of 24 to 64 random bytes; the HMAC key is those bytes;
- the signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``;
- ``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key, signed content)); while a
  secret rotates the header carries one signature per active secret, space-separated, and
  a receiver accepts the message when any of them matches;
- ``webhook-timestamp`` is integer Unix seconds; receivers refuse timestamps more than a
  tolerance (5 minutes) away from their clock, in either direction, against replays.

Asymmetric ``v1a`` (ed25519) is not implemented. Secrets never appear in a message,
a log line or an exception text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence

from divergence.errors import BadRequestError, DivergenceError

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
NEW_KEY_BYTES = 32
DEFAULT_TOLERANCE_S = 300.0
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class SignatureError(DivergenceError):
    """A received webhook failed verification; ``reason`` says which check."""

    http_status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook verification failed: {reason}")
        self.reason = reason


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(NEW_KEY_BYTES)).decode()


def secret_key(secret: str, *, name: str = "secret") -> bytes:
    """The HMAC key of a ``whsec_`` secret; the error names ``name``, never the value."""
    if not secret.startswith(SECRET_PREFIX):
        raise BadRequestError(f"{name}: expected 'whsec_' followed by base64 (value not shown)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequestError(f"{name}: the part after 'whsec_' is not valid base64") from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise BadRequestError(
            f"{name}: expected {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key, found {len(key)}"
        )
    return key


def secret_fingerprint(secret: str) -> str:
    """A short, non-reversible tag that tells secrets apart in the API (sha256, 12 hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def sign(key: bytes, *, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    content = f"{msg_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    keys: Sequence[bytes], *, msg_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per key (newest key first)."""
    if not keys:
        raise BadRequestError("cannot sign a webhook without a secret")
    signatures = " ".join(
        sign(key, msg_id=msg_id, timestamp_s=timestamp_s, body=body) for key in keys
    )
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp_s),
        HEADER_SIGNATURE: signatures,
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    keys: Sequence[bytes],
    *,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> str:
    """Check a received webhook; return its ``webhook-id`` or raise :class:`SignatureError`."""
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get(HEADER_ID, "")
    stamp = lower.get(HEADER_TIMESTAMP, "")
    passed = lower.get(HEADER_SIGNATURE, "")
    if not (msg_id and stamp and passed):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise SignatureError(f"webhook-timestamp must be integer seconds, found {stamp!r}")
    timestamp_s = int(stamp)
    if abs(now_s - timestamp_s) > tolerance_s:
        raise SignatureError(
            f"webhook-timestamp {timestamp_s} is more than {tolerance_s:g} s from now"
        )
    expected = [sign(key, msg_id=msg_id, timestamp_s=timestamp_s, body=body) for key in keys]
    for candidate in passed.split(" "):
        if any(hmac.compare_digest(candidate.encode(), e.encode()) for e in expected):
            return msg_id
    raise SignatureError("no matching v1 signature")
