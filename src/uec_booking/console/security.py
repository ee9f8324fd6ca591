"""Who may do what, and the checks every request passes.

- Sign-in is by OIDC (see `signin.py`); the session cookie is signed, HttpOnly, SameSite=Lax,
  and Secure whenever the console is served over HTTPS.
- Roles gate pages: a **call handler** books, cancels and rebooks; **provider staff** see the
  diary (it shows patients' names and NHS numbers); both see the reports, which hold counts only.
- Every POST must come from the console's own pages: its `Origin` (or, failing that, its
  `Referer`) is the console's, and it carries the session's CSRF token.
- Every response carries a CSP with `frame-ancestors 'none'` and no inline script,
  `X-Content-Type-Options`, `Referrer-Policy`, and `Cache-Control: no-store` (pages show
  patient data; static files excepted).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CALL_HANDLER = "call-handler"
PROVIDER_STAFF = "provider-staff"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every HTTP response. `form-action` names
    the identity provider too: a form sent after the session ended redirects to sign-in."""

    def __init__(self, app: ASGIApp, *, identity_origin: str) -> None:
        self.app = app
        self.csp = f"{CSP}; form-action 'self' {identity_origin}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(("/static/", "/assets/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class User:
    sub: str
    name: str
    roles: frozenset[str]

    @classmethod
    def from_session(cls, request: Request) -> User | None:
        data = request.session.get("user")
        if not isinstance(data, dict):
            return None
        return cls(str(data["sub"]), str(data["name"]), frozenset(data.get("roles", [])))

    def may(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


class Refused(Exception):
    """A request the console will not act on: (status, title, sentence)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


async def check_post(request: Request, origin: str) -> None:
    """The POST came from one of the console's pages, in this session."""
    sent_from = request.headers.get("origin")
    if sent_from is None:
        referer = request.headers.get("referer", "")
        sent_from = origin if referer.startswith(origin + "/") else None
    if sent_from != origin:
        raise Refused(
            403,
            "This form was not sent from the console",
            "The request came from another site, so nothing was done. Use the console's own pages.",
        )
    form = await request.form()
    token = str(form.get("csrf_token") or "")
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(token, expected):
        raise Refused(
            403,
            "This form has expired",
            "The page was out of date or from another session, so nothing was done. Go back, reload the page and try again.",
        )


Handler = Callable[[Request, User], Awaitable[Response]]


def requires(*roles: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Signed in, with one of these roles; and for a POST, the Origin and CSRF checks."""

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            user = User.from_session(request)
            if user is None:
                target = request.url.path if request.method == "GET" else "/"
                if request.method == "GET" and request.url.query:
                    target += "?" + request.url.query
                return RedirectResponse(f"/signin?next={quote(target, safe='')}", 303)
            if not user.may(*roles):
                raise Refused(
                    403,
                    "You cannot use this page",
                    f"This page is for {' or '.join(r.replace('-', ' ') for r in roles)} roles. Ask your manager if you need it.",
                )
            if request.method == "POST":
                await check_post(request, request.app.state.settings.origin)
            return await handler(request, user)

        return endpoint

    return decorate


def safe_next(target: Any) -> str:
    """Only a path on this console: never another site (no open redirect after sign-in)."""
    value = str(target or "/")
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
