"""API keys: making one, hashing it, and finding the configured key a request presents.

A key is ``dvg_`` followed by 43 URL-safe characters: 256 random bits from
:mod:`secrets`. Only its SHA-256 is configured. A fast hash is the right tool here, unlike
for passwords: a password hash (bcrypt, argon2) is slow to make guessing a *low-entropy*
secret expensive, but nobody can enumerate 2**256 keys at any speed, and a slow hash on
every request would only cost latency. Comparisons use :func:`hmac.compare_digest`
against every configured hash, so timing tells nothing about which hash was close.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from divergence.auth.config import ApiKeySpec
from divergence.auth.roles import Role

KEY_PREFIX = "dvg_"
MAX_KEY_CHARS = 512
"""A presented credential longer than this is refused unread (no hashing of megabytes)."""

EXAMPLE_KEY = "dvg_EXAMPLE-key-from-the-docs-do-not-use"
"""The key whose hash the documentation shows; refused outside dev mode like a placeholder."""

PLACEHOLDERS: tuple[str, ...] = (
    "",
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "password",
    "passw0rd",
    "secret",
    "test",
    "testing",
    "dev",
    "demo",
    "default",
    "example",
    "admin",
    "analyst",
    "viewer",
    "key",
    "apikey",
    "api-key",
    "api_key",
    "token",
    "xxx",
    "xxxx",
    "todo",
    "none",
    "null",
    "1234",
    "123456",
    "12345678",
    "letmein",
    "your-api-key",
    "your_api_key",
    "<api-key>",
    EXAMPLE_KEY,
)
"""Secrets that are somebody's placeholder, never a real credential (compared lower-case)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name and role (``dev-mode``, an admin, in dev mode)."""

    name: str
    role: Role


DEV_PRINCIPAL = Principal(name="dev-mode", role=Role.ADMIN)


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The hex SHA-256 of ``key`` (what ``service.api_keys[].sha256`` holds)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_placeholder(secret: str) -> bool:
    """Whether ``secret`` is a well-known placeholder (case and surrounding space ignored)."""
    text = secret.strip().lower()
    return text in PLACEHOLDERS or text == EXAMPLE_KEY.lower() or len(set(text)) <= 1


PLACEHOLDER_HASHES: frozenset[str] = frozenset(
    key_hash(form) for word in PLACEHOLDERS for form in (word, word.upper(), word.capitalize())
)
"""SHA-256 of every placeholder: a configured hash among these is a placeholder key."""


class KeyRing:
    """The configured keys, looked up by the key a request presents."""

    def __init__(self, specs: Iterable[ApiKeySpec]) -> None:
        self._entries = tuple((bytes.fromhex(s.sha256), Principal(s.name, s.role)) for s in specs)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: str) -> Principal | None:
        """The holder of ``presented``, or None; compares against every hash in constant time."""
        if not presented or len(presented) > MAX_KEY_CHARS:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found
