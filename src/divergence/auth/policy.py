"""Which role each route needs: ``required_role(method, path_template)`` (pure).

The path is the route's *template* as declared (``/api/alerts/{fp}/acknowledge``), not
the request's path, so one rule covers every value of a path parameter. The rules, in
order:

1. open (no key): ``/health``, the login page and form, and logout (``OPEN_ROUTES``);
2. ``analyst``: SQL and alert case work, each route listed (``ANALYST_ROUTES``);
3. ``viewer``: any other ``GET`` or ``HEAD``, and every websocket (``WEBSOCKET``);
4. ``admin``: everything else: any other method on any route (rules, webhooks,
   silences, and whatever is added later), and any method this module does not know.

So a new read route needs a viewer, and a new route that changes anything needs an
admin until it is listed here. The API description (``/openapi.json``, ``/docs``) and
static files are GET routes like any other: viewer. Nothing is open by default.
"""

from __future__ import annotations

from divergence.auth.roles import Role

WEBSOCKET = "WEBSOCKET"
"""The method name the policy uses for a websocket connection."""

READ_METHODS = frozenset({"GET", "HEAD"})

OPEN_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("HEAD", "/health"),
        ("GET", "/login"),
        ("HEAD", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
    }
)
"""Routes anyone may call: liveness, and the way to log in and out."""

ANALYST_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/sql"),
        ("POST", "/api/alerts/{fp}/acknowledge"),
        ("POST", "/api/alerts/{fp}/assign"),
        ("POST", "/api/alerts/{fp}/notes"),
    }
)
"""Routes that change something but are an analyst's work: read-only SQL, alert cases."""


def required_role(method: str, path_template: str) -> Role | None:
    """The least role that may call ``method`` on ``path_template``; None when open."""
    key = (method.upper(), path_template)
    if key in OPEN_ROUTES:
        return None
    if key in ANALYST_ROUTES:
        return Role.ANALYST
    if key[0] in READ_METHODS or key[0] == WEBSOCKET:
        return Role.VIEWER
    return Role.ADMIN
