"""Webhook endpoints: subscriptions with filters, and their secrets (stored, never shown).

An endpoint receives an event when its ``event_types`` list is empty or names the event's
type (exactly, or by a ``prefix.*`` pattern, or ``*``), and when every entry of its
``labels`` filter equals the event's label of that name (``data.labels``). The functions
here are synchronous and run on one of the Store's threads (see manager.py).

Secrets are written to ``webhook_secrets`` and read back only by the delivery worker to
sign; the API sees a fingerprint. Nothing here logs or formats a secret.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from divergence.errors import BadRequestError, NotFoundError
from divergence.store.db import Store
from divergence.webhooks.db import run, transaction
from divergence.webhooks.payloads import EVENT_SCHEMAS
from divergence.webhooks.signing import secret_key
from divergence.webhooks.url_policy import parse_url

_FAR_FUTURE = 2**62


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as stored (without its secrets)."""

    endpoint_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    labels: dict[str, str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at_ns: int
    updated_at_ns: int

    def matches(self, event_type: str, labels: Mapping[str, str]) -> bool:
        """Whether this endpoint's filters accept an event (enabled or not)."""
        return type_matches(self.event_types, event_type) and all(
            labels.get(key) == value for key, value in self.labels.items()
        )


@dataclass(frozen=True)
class EndpointChange:
    """A partial update: ``None`` leaves a field as it is."""

    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    labels: dict[str, str] | None = field(default=None)
    enabled: bool | None = None


def type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """``patterns`` empty, or one equal to the type, ``*``, or a ``prefix.*`` of it."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def check_event_types(patterns: Sequence[str]) -> tuple[str, ...]:
    """``patterns`` if each names or matches at least one known event type."""
    for pattern in patterns:
        if not any(type_matches([pattern], known) for known in EVENT_SCHEMAS):
            known = ", ".join(sorted(EVENT_SCHEMAS))
            raise BadRequestError(f"event_types: {pattern!r} matches no event type ({known})")
    return tuple(patterns)


def new_endpoint_id() -> str:
    return "ep_" + _random.token_hex(8)


def create_endpoint(
    store: Store,
    *,
    url: str,
    secret: str,
    description: str = "",
    event_types: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    enabled: bool = True,
    now_ns: int,
    endpoint_id: str | None = None,
) -> Endpoint:
    """Store a new endpoint and its current secret (checked: ``whsec_`` + 24-64 bytes)."""
    parse_url(url)
    secret_key(secret)
    new_id = endpoint_id or new_endpoint_id()
    with transaction(store):
        run(
            store,
            "webhook_endpoint_insert",
            {
                "endpoint_id": new_id,
                "url": url,
                "description": description,
                "event_types": list(check_event_types(event_types)),
                "label_filters": orjson.dumps(dict(labels or {})).decode(),
                "enabled": enabled,
                "now": now_ns,
            },
        )
        _insert_secret(store, new_id, secret, now_ns=now_ns)
    return get_endpoint(store, new_id)


def list_endpoints(store: Store) -> list[Endpoint]:
    return [_endpoint(row) for row in run(store, "webhook_endpoints", {"endpoint_id": ""})]


def get_endpoint(store: Store, endpoint_id: str) -> Endpoint:
    rows = run(store, "webhook_endpoints", {"endpoint_id": endpoint_id})
    if not rows:
        raise NotFoundError(f"no webhook endpoint {endpoint_id!r}")
    return _endpoint(rows[0])


def update_endpoint(
    store: Store, endpoint_id: str, change: EndpointChange, *, now_ns: int
) -> Endpoint:
    """Apply ``change``; enabling a disabled endpoint restarts its pending messages now."""
    with transaction(store):
        old = get_endpoint(store, endpoint_id)
        if change.url is not None:
            parse_url(change.url)
        types = old.event_types if change.event_types is None else change.event_types
        enabled = old.enabled if change.enabled is None else change.enabled
        description = old.description if change.description is None else change.description
        run(
            store,
            "webhook_endpoint_update",
            {
                "endpoint_id": endpoint_id,
                "url": change.url or old.url,
                "description": description,
                "event_types": list(check_event_types(types)),
                "label_filters": orjson.dumps(
                    old.labels if change.labels is None else change.labels
                ).decode(),
                "enabled": enabled,
                "now": now_ns,
            },
        )
        if enabled and not old.enabled:
            run(store, "webhook_outbox_resume", {"endpoint_id": endpoint_id, "now": now_ns})
    return get_endpoint(store, endpoint_id)


def delete_endpoint(store: Store, endpoint_id: str, *, now_ns: int) -> None:
    """Delete an endpoint and its secrets; its pending messages become ``cancelled``."""
    with transaction(store):
        get_endpoint(store, endpoint_id)
        run(store, "webhook_outbox_cancel", {"endpoint_id": endpoint_id, "now": now_ns})
        run(
            store,
            "webhook_secrets_purge",
            {"endpoint_id": endpoint_id, "before": _FAR_FUTURE, "all": True},
        )
        run(store, "webhook_endpoint_delete", {"endpoint_id": endpoint_id})


def rotate_secret(
    store: Store, endpoint_id: str, secret: str, *, overlap_s: float, now_ns: int
) -> None:
    """Make ``secret`` current; the previous one keeps signing for ``overlap_s`` seconds."""
    secret_key(secret)
    expires = now_ns + int(overlap_s * 1e9)
    with transaction(store):
        get_endpoint(store, endpoint_id)
        purge = {"endpoint_id": endpoint_id, "before": now_ns, "all": False}
        run(store, "webhook_secrets_purge", purge)
        run(store, "webhook_secret_expire", {"endpoint_id": endpoint_id, "expires": expires})
        _insert_secret(store, endpoint_id, secret, now_ns=now_ns)


def _insert_secret(store: Store, endpoint_id: str, secret: str, *, now_ns: int) -> None:
    params = {"endpoint_id": endpoint_id, "secret": secret, "now": now_ns}
    run(store, "webhook_secret_insert", params)


def signing_keys(store: Store, endpoint_id: str, *, now_ns: int) -> list[bytes]:
    """The HMAC keys that sign this endpoint's messages now, newest first."""
    rows = run(store, "webhook_secrets_active", {"endpoint_id": endpoint_id, "now": now_ns})
    return [secret_key(row["secret"]) for row in rows]


def secrets_meta(store: Store, *, now_ns: int, endpoint_id: str = "") -> list[dict[str, Any]]:
    """Fingerprint and times of each unexpired secret (what the API may show)."""
    return run(store, "webhook_secrets_meta", {"endpoint_id": endpoint_id, "now": now_ns})


def _endpoint(row: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        endpoint_id=row["endpoint_id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(row["event_types"]),
        labels=orjson.loads(row["label_filters"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        consecutive_failures=row["consecutive_failures"],
        created_at_ns=row["created_at_ns"],
        updated_at_ns=row["updated_at_ns"],
    )
