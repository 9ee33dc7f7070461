"""The three roles of the HTTP service, ordered ``viewer < analyst < admin``."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What a key may do: ``viewer`` reads, ``analyst`` also runs SQL and works alert cases,
    ``admin`` also changes rules, webhooks and silences."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether a key holding this role may call a route that needs ``needed``."""
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}
