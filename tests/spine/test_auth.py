"""The NHS authentication stand-in over a real socket: the token endpoint (RFC 6749 client
credentials and its §5.2 errors), the JWKS with two keys, rotation, the client registry."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography import x509

from tests.auth_support import AUDIENCE, CONSUMER, DASHBOARD, AuthService, running_auth
from uec_booking.asgi_server import ThreadedServer
from uec_booking.spine.auth import ClientRegistry, check_secret, create_app, hash_secret
from uec_booking.spine.auth_keys import KeySet

SEED_SCOPES = {
    "appointment/*.write",
    "slot/*.read",
    "schedule/*.read",
    "location/*.read",
    "organization/*.read",
    "healthcareservice/*.read",
}


@pytest.fixture(scope="module")
def auth() -> Iterator[AuthService]:
    with running_auth() as service:
        yield service


def form(**changes: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": CONSUMER["client_id"],
        "client_secret": CONSUMER["client_secret"],
        "scope": f"{AUDIENCE}/.default",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}


def test_token_response_header_and_claims(auth: AuthService) -> None:
    response = httpx.post(auth.token_url, data=form())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and body["ext_expires_in"] == 3600
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == auth.keys.active.kid
    # x5t is the base64url SHA-1 of the DER certificate the JWKS publishes for that kid.
    jwk = next(k for k in httpx.get(auth.jwks_url).json()["keys"] if k["kid"] == header["kid"])
    der = base64.b64decode(jwk["x5c"][0])
    thumb = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert header["x5t"] == thumb == jwk["x5t"]
    cert = x509.load_der_x509_certificate(der)
    assert cert.issuer == cert.subject  # self-signed
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=auth.url,
    )
    assert claims["sub"] == claims["appid"] == CONSUMER["client_id"]
    assert claims["asid"] == CONSUMER["asid"] and claims["ods"] == CONSUMER["ods"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["groups"] == CONSUMER["groups"] and "create:appointment" in claims["groups"]
    assert set(claims["scp"].split()) >= SEED_SCOPES
    assert (
        claims["jti"]
        != jwt.decode(
            httpx.post(auth.token_url, data=form()).json()["access_token"],
            options={"verify_signature": False},
        )["jti"]
    )


def test_audience_is_the_scope_without_default(auth: AuthService) -> None:
    response = httpx.post(auth.token_url, data=form(scope=f"{AUDIENCE}/.default"))
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == AUDIENCE
    dashboard = httpx.post(
        auth.token_url,
        data=form(client_id=DASHBOARD["client_id"], client_secret=DASHBOARD["client_secret"]),
    )
    claims = jwt.decode(dashboard.json()["access_token"], options={"verify_signature": False})
    assert claims["groups"] == ["read:metadata", "read:slot"]
    assert "appointment/*.write" not in claims["scp"].split()


def test_basic_client_authentication(auth: AuthService) -> None:
    grant = form(client_id=None, client_secret=None)
    ok = httpx.post(auth.token_url, data=grant, headers=basic(*_creds(CONSUMER)))
    assert ok.status_code == 200 and ok.json()["access_token"]
    wrong = httpx.post(auth.token_url, data=grant, headers=basic(CONSUMER["client_id"], "no"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    garbled = httpx.post(auth.token_url, data=grant, headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401 and garbled.json()["error"] == "invalid_client"
    assert garbled.headers["www-authenticate"].startswith("Basic")
    both = httpx.post(auth.token_url, data=form(), headers=basic(*_creds(CONSUMER)))
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def _creds(client: dict[str, str]) -> tuple[str, str]:
    return client["client_id"], client["client_secret"]


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "stranger"}, 401, "invalid_client"),
        ({"client_secret": DASHBOARD["client_secret"]}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({"scope": "slot/*.read"}, 400, "invalid_scope"),
        ({"scope": "/.default"}, 400, "invalid_scope"),
        ({"scope": None}, 400, "invalid_scope"),
        ({"grant_type": None}, 400, "invalid_request"),
        ({"client_secret": None}, 400, "invalid_request"),
        ({"client_id": None}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_errors(
    auth: AuthService, changes: dict[str, str | None], status: int, error: str
) -> None:
    response = httpx.post(auth.token_url, data=form(**changes))
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers  # only when Basic was used


def test_jwks_health_and_rotation(auth: AuthService) -> None:
    jwks = httpx.get(auth.jwks_url).json()
    assert httpx.get(f"{auth.url}/jwks").json() == jwks
    kids = [k["kid"] for k in jwks["keys"]]
    assert kids == [auth.keys.active.kid, auth.keys.upcoming.kid]  # active + next
    assert all(
        k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig" for k in jwks["keys"]
    )
    assert httpx.get(f"{auth.url}/_health").json() == {"status": "ok"}

    before = auth.keys.active.kid
    next_kid = auth.keys.upcoming.kid
    auth.keys.rotate()
    token = httpx.post(auth.token_url, data=form()).json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == next_kid
    after = [k["kid"] for k in httpx.get(auth.jwks_url).json()["keys"]]
    assert after[0] == next_kid and before in after and len(set(after)) == 3


def test_keys_load_from_pem_files(tmp_path: Path) -> None:
    keys = KeySet()
    keys.write_directory(tmp_path)
    assert oct((tmp_path / "active.key.pem").stat().st_mode & 0o777) == "0o600"
    loaded = KeySet.from_directory(tmp_path)
    assert loaded.jwks() == keys.jwks()  # same kids, same public keys, same certificates
    app = create_app(
        issuer="http://issuer",
        clients=ClientRegistry.from_directory(_one_client(), providers=[AUDIENCE]),
        keys=loaded,
    )
    with ThreadedServer(app) as server:
        response = httpx.post(f"{server.url}/oauth2/token", data=form())
        token = response.json()["access_token"]
    key = keys.active.private_key.public_key()
    assert jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)["iss"] == "http://issuer"


def _one_client() -> dict[str, object]:
    return {"consumer_systems": [CONSUMER]}


def test_registry_file_keeps_only_hashes(tmp_path: Path) -> None:
    stored = hash_secret("s3cret")
    assert "s3cret" not in stored and stored != hash_secret("s3cret")  # salted
    assert check_secret("s3cret", stored) and not check_secret("s3cret!", stored)
    assert not check_secret("s3cret", "plain")
    path = tmp_path / "clients.json"
    client = {
        "client_id": "c1",
        "secret_hash": stored,
        "asid": "1",
        "ods": "X",
        "groups": ["read:slot"],
        "scopes": ["slot/*.read"],
        "audiences": ["http://p/fhir"],
    }
    registered = ["http://p/fhir", "http://q/fhir"]
    path.write_text(json.dumps({"providers": registered, "clients": [client]}))
    app = create_app(issuer="http://issuer", clients=ClientRegistry.from_file(path))
    with ThreadedServer(app) as server:
        grant = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s3cret"}
        ok = httpx.post(
            f"{server.url}/oauth2/token", data={**grant, "scope": "http://p/fhir/.default"}
        )
        other = httpx.post(
            f"{server.url}/oauth2/token", data={**grant, "scope": "http://q/fhir/.default"}
        )
        unregistered = httpx.post(
            f"{server.url}/oauth2/token", data={**grant, "scope": "http://elsewhere/fhir/.default"}
        )
    assert ok.status_code == 200
    for refused in (other, unregistered):  # not this client's; not a registered provider
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_tokens_only_for_registered_providers(auth: AuthService) -> None:
    """Issue 13 #18: a token for any audience was minted; now only for registered providers."""
    response = httpx.post(auth.token_url, data=form(scope="http://attacker.example/fhir/.default"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert "not a provider" in response.json()["error_description"]
