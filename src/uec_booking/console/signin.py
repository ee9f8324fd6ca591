"""Sign-in by OpenID Connect: authorization code flow with PKCE (S256) and a nonce, through
Authlib's Starlette client. The identity provider is NHS CIS2 in a deployment, the sandbox's
stand-in (`spine/identity.py`) here. Roles come from the `nhsid_nrbac_roles` claim."""

from __future__ import annotations

import warnings
from typing import Any

from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # Authlib 1.9 prefers httpx2 and warns when it falls back to httpx, which this project
    # uses everywhere else; the fallback is the supported, tested path for 1.9.
    warnings.simplefilter("ignore")
    from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from uec_booking.console.pages import message, page
from uec_booking.console.security import (
    CALL_HANDLER,
    PROVIDER_STAFF,
    User,
    check_post,
    csrf_token,
    safe_next,
)
from uec_booking.console.settings import ConsoleSettings

SCOPE = "openid profile nationalrbacaccess"
KNOWN_ROLES = {CALL_HANDLER, PROVIDER_STAFF}


def oidc_client(settings: ConsoleSettings) -> Any:
    oauth = OAuth()
    return oauth.register(
        "cis2",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )


def _identity_down(request: Request, exc: Exception) -> Response:
    return message(
        request,
        503,
        "Cannot sign in",
        "The identity service (NHS Care Identity Service) is not answering. Try again in a few minutes.",
        detail=str(exc),
    )


async def sign_in(request: Request) -> Response:
    request.session["next"] = safe_next(request.query_params.get("next"))
    redirect_uri = request.app.state.settings.public_url.rstrip("/") + "/signin/callback"
    try:
        response: Response = await request.app.state.oidc.authorize_redirect(request, redirect_uri)
    except Exception as exc:  # discovery unreachable: httpx and Authlib errors alike
        return _identity_down(request, exc)
    return response


async def callback(request: Request) -> Response:
    client = request.app.state.oidc
    try:
        token = await client.authorize_access_token(request)
        info = await client.userinfo(token=token)
    except OAuthError as exc:
        return message(
            request,
            400,
            "Sign-in did not finish",
            "The sign-in was refused or had expired. Sign in again.",
            detail=str(exc),
            back=("/signin", "Sign in again"),
        )
    except Exception as exc:  # the identity service went away mid-way
        return _identity_down(request, exc)
    if info.get("sub") != token["userinfo"]["sub"]:
        return message(request, 400, "Sign-in did not finish", "Sign in again.")
    claimed = {
        str(r.get("role_name")) for r in info.get("nhsid_nrbac_roles", []) if isinstance(r, dict)
    }
    roles = sorted(claimed & KNOWN_ROLES)
    target = request.session.get("next", "/")
    request.session.clear()  # a new session at sign-in: nothing carried over (fixation)
    request.session["user"] = {"sub": info["sub"], "name": info.get("name", ""), "roles": roles}
    csrf_token(request)
    user = User.from_session(request)
    if user is not None and not user.roles:
        return message(
            request,
            403,
            "You have no role in this console",
            "Your account has neither the call handler nor the provider staff role. Ask your manager.",
        )
    return RedirectResponse(safe_next(target), 303)


async def sign_out(request: Request) -> Response:
    await check_post(request, request.app.state.settings.origin)
    request.session.clear()
    return page(request, "signed_out.html", user=None)


routes = [
    Route("/signin", sign_in),
    Route("/signin/callback", callback),
    Route("/signout", sign_out, methods=["POST"]),
]
