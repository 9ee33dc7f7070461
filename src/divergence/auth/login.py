"""The browser's way in: ``GET /login`` (a form), ``POST /login`` (sets the key cookie),
``POST /logout`` (clears it).

Browsers cannot send an ``Authorization`` header when they follow a link, load a script or
open a websocket, so a key given once in the form is kept in the ``divergence_key``
cookie: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page can
make the browser send it, which also stops cross-site form posts) and ``Path=/``, plus
``Secure`` when the request came over HTTPS. The form is self-contained HTML (no script,
no external asset), so it loads before the browser holds a key.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from divergence.auth.keys import KeyRing

log = logging.getLogger(__name__)
router = APIRouter()
COOKIE = "divergence_key"
MAX_FORM_BYTES = 8_192

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>divergence: log in</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f6f7f9; margin: 0; }}
main {{ max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem;
  border: 1px solid #d8dce2; border-radius: 8px; }}
h1 {{ font-size: 1.3rem; margin-top: 0; }}
label, input, button {{ display: block; width: 100%; box-sizing: border-box; }}
input {{ margin: .4rem 0 1rem; padding: .5rem; font-family: monospace; }}
button {{ padding: .6rem; }}
.error {{ color: #b00020; }}
</style></head>
<body><main>
<h1>divergence</h1>
<p>This service needs an API key. Ask an admin for one
(<code>divergence keys new</code>).</p>
{message}
<form method="post" action="/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
</main></body></html>
"""


def login_page(next_path: str = "/", *, message: str = "", status: int = 200) -> HTMLResponse:
    """The login form; after logging in the browser goes to ``next_path`` (a local path)."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = _PAGE.format(message=note, next=html.escape(safe_next(next_path), quote=True))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def safe_next(path: str) -> str:
    """``path`` when it is a path on this server, else ``/`` (no open redirect)."""
    ok = (
        path.startswith("/")
        and not path.startswith(("//", "/\\"))
        and all(" " < c <= "~" for c in path)
    )
    return path if ok else "/"


@router.get("/login", include_in_schema=False)
async def login_form(request: Request) -> HTMLResponse:
    return login_page(request.query_params.get("next", "/"))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return login_page(message="the form is too large", status=413)
    form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    key = (form.get("key") or [""])[0].strip()
    next_path = safe_next((form.get("next") or ["/"])[0])
    if request.app.state.settings.service.dev_mode:
        return RedirectResponse(next_path, status_code=303)
    if not key:
        return login_page(next_path, message="Enter an API key.", status=400)
    ring: KeyRing = request.app.state.key_ring
    principal = ring.lookup(key)
    if principal is None:
        log.info("login refused: unknown key", extra={"client": _client(request)})
        return login_page(next_path, message="That key is not valid.", status=401)
    log.info("login", extra={"key_name": principal.name, "role": str(principal.role)})
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
