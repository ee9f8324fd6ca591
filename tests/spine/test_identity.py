"""The sandbox identity provider for people (stand-in for CIS2) over real sockets: the
discovery document, the authorization code flow with PKCE, ID tokens checked with another
library (PyJWT) against the published JWKS, roles in userinfo, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata

from uec_booking.asgi_server import ThreadedServer
from uec_booking.spine import identity

REDIRECT = "http://127.0.0.1:9/signin/callback"  # never contacted: the test reads the redirect


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    server = identity.IdentityServer(
        issuer="http://127.0.0.1:0",
        people=[
            identity.Person.create(
                username="alex",
                password="pw-alex",
                name="Alex Morgan",
                roles=["call-handler"],
                org_code="X26CN1",
            )
        ],
        clients=[identity.OidcClient("console", "console-secret", (REDIRECT,))],
    )
    running = ThreadedServer(identity.create_app(server), host="127.0.0.1")
    server.issuer = running.url
    running.start()
    yield running.url
    running.stop()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _params(challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "console",
        "redirect_uri": REDIRECT,
        "scope": "openid profile nationalrbacaccess",
        "state": "st-1",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }


def _sign_in(idp: str, params: dict[str, str], password: str = "pw-alex") -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        form = client.get(idp + "/authorize", params=params)
        assert form.status_code == 200 and "Sign in" in form.text
        hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.text))
        data = {k: unescape(v) for k, v in hidden.items()}
        return client.post(
            idp + "/authorize", data={**data, "username": "alex", "password": password}
        )


def _code(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _exchange(idp: str, code: str, verifier: str, secret: str = "console-secret") -> httpx.Response:
    return httpx.post(
        idp + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("console", secret),
        timeout=30,
    )


def test_discovery_document_is_valid_openid_metadata(idp: str) -> None:
    document = httpx.get(idp + "/.well-known/openid-configuration", timeout=30).json()
    OpenIDProviderMetadata(document).validate()
    assert document["issuer"] == idp
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_code_flow_with_pkce_gives_a_verifiable_id_token_and_roles(idp: str) -> None:
    verifier, challenge = _pkce()
    params = _params(challenge)
    token = _exchange(idp, _code(_sign_in(idp, params)), verifier)
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    keys = jwt.PyJWKClient(idp + "/jwks.json")
    key = keys.get_signing_key_from_jwt(body["id_token"]).key
    claims = jwt.decode(body["id_token"], key, algorithms=["RS256"], audience="console", issuer=idp)
    assert claims["nonce"] == params["nonce"] and claims["name"] == "Alex Morgan"
    info = httpx.get(
        idp + "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=30
    ).json()
    assert info["sub"] == claims["sub"]
    assert [r["role_name"] for r in info["nhsid_nrbac_roles"]] == ["call-handler"]


def test_a_code_is_used_once_and_only_with_its_verifier(idp: str) -> None:
    verifier, challenge = _pkce()
    code = _code(_sign_in(idp, _params(challenge)))
    wrong = _exchange(idp, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = _code(_sign_in(idp, _params(challenge)))
    assert _exchange(idp, code, verifier).status_code == 200
    again = _exchange(idp, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_refusals(idp: str) -> None:
    verifier, challenge = _pkce()
    # Without PKCE, or to a redirect URI not registered: refused here, never redirected.
    for bad in (
        {"code_challenge": "", "code_challenge_method": ""},
        {"redirect_uri": "http://127.0.0.1:9/elsewhere"},
        {"client_id": "nobody"},
    ):
        page = httpx.get(idp + "/authorize", params=_params(challenge, **bad), timeout=30)
        assert page.status_code in (302, 400), page.text
        if page.status_code == 302:  # an error for the registered client, as RFC 6749 says
            assert "error=" in page.headers["location"]
            assert page.headers["location"].startswith(REDIRECT)
    wrong_password = _sign_in(idp, _params(challenge), password="nope")
    assert wrong_password.status_code == 401 and "Error:" in wrong_password.text
    code = _code(_sign_in(idp, _params(challenge)))
    bad_client = _exchange(idp, code, verifier, secret="wrong")
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    unauthorised = httpx.get(idp + "/userinfo", headers={"Authorization": "Bearer x"}, timeout=30)
    assert unauthorised.status_code == 401
