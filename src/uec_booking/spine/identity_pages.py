"""The identity provider's two pages: the sign-in form and the refusal of a bad request.
Plain HTML, no script; the form posts back to `/authorize` with the request's parameters."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

_SECURITY_HEADERS = {
    # form-action also names where the sign-in form's answer redirects (the clients' origins)
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in_page(
    params: dict[str, str], redirect_uris: list[str], error: str | None = None
) -> HTMLResponse:
    keep = (
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(params.get(k, ""))}">'
        for k in keep
        if params.get(k)
    )
    problem = (
        f'<div role="alert" id="signin-error"><h2>There is a problem</h2><p>{html.escape(error)}</p></div>'
        if error
        else ""
    )
    title = ("Error: " if error else "") + "Sign in - sandbox identity provider"
    body = f"""<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>Sign in</h1><p>Sandbox stand-in for NHS Care Identity Service 2.</p>{problem}
<form method="post" action="authorize">{hidden}
<p><label for="username">Username</label><br><input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p></form></main></body></html>"""
    # The form posts here, and its answer redirects to the client: CSP form-action covers both.
    origins = sorted({_origin(u) for u in redirect_uris})
    headers = {
        **_SECURITY_HEADERS,
        "Content-Security-Policy": _SECURITY_HEADERS["Content-Security-Policy"]
        + "; form-action 'self' "
        + " ".join(origins),
    }
    return HTMLResponse(body, 401 if error else 200, headers=headers)


def error_page(error: Any) -> HTMLResponse:
    text = html.escape(f"{error.error}: {error.description or ''}")
    return HTMLResponse(
        f'<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><title>Error: sign-in request refused</title></head><body><main><h1>The sign-in request was refused</h1><p id="oauth-error">{text}</p></main></body></html>',
        400,
        headers=_SECURITY_HEADERS,
    )
