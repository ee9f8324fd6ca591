"""NHS authentication stand-in and the shared verifier: issue, verify, and the negative matrix."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens
from uec_booking.consumer.errors import AuthError
from uec_booking.fhir.errors import Forbidden, Unauthorized
from uec_booking.fhir.interactions import Interaction
from uec_booking.spine.auth import ClientRegistry, create_app
from uec_booking.spine.auth_keys import KeySet, SigningKey
from uec_booking.tokens import TokenVerifier, authorize

AUDIENCE = "http://127.0.0.1:8020/fhir"
CONSUMER = sample_data.load()["consumer_systems"][0]
DASHBOARD = sample_data.load()["consumer_systems"][1]


@dataclass
class Auth:
    url: str
    keys: KeySet
    token_url: str
    jwks_url: str


@pytest.fixture(scope="module")
def auth() -> Iterator[Auth]:
    keys = KeySet()
    port_holder = ThreadedServer(None)  # reserve a port for the issuer URL
    issuer = port_holder.url
    app = create_app(
        issuer=issuer, clients=ClientRegistry.from_directory(sample_data.load()), keys=keys
    )
    with ThreadedServer(app, port=port_holder.port) as server:
        yield Auth(
            server.url, keys, f"{server.url}/oauth2/token", f"{server.url}/.well-known/jwks.json"
        )


def get_token(auth: Auth, client: dict[str, str] = CONSUMER, audience: str = AUDIENCE) -> str:
    tokens = ClientCredentialsTokens(
        token_url=auth.token_url,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )
    return asyncio.run(tokens.token(audience=audience))


def verifier(auth: Auth, **overrides: object) -> TokenVerifier:
    options: dict[str, object] = {
        "jwks_url": auth.jwks_url,
        "issuer": auth.url,
        "audience": AUDIENCE,
    }
    options.update(overrides)
    return TokenVerifier(**options)  # type: ignore[arg-type]


def test_token_response_and_claims(auth: Auth) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": CONSUMER["client_id"],
        "client_secret": CONSUMER["client_secret"],
        "scope": f"{AUDIENCE}/.default",
    }
    response = httpx.post(auth.token_url, data=form)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (
        body["token_type"] == "Bearer"
        and body["expires_in"] == 3600
        and body["ext_expires_in"] == 3600
    )
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == auth.keys.active.kid and header["x5t"]
    caller = asyncio.run(verifier(auth).verify(f"Bearer {body['access_token']}"))
    claims = caller.claims
    assert (
        claims["aud"] == AUDIENCE
        and claims["iss"] == auth.url
        and claims["appid"] == CONSUMER["client_id"]
    )
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] <= claims["iat"]
    assert caller.asid == CONSUMER["asid"] and "create:appointment" in caller.groups
    assert {
        "appointment/*.write",
        "slot/*.read",
        "schedule/*.read",
        "location/*.read",
        "organization/*.read",
        "healthcareservice/*.read",
    } <= caller.scopes


def test_basic_client_authentication(auth: Auth) -> None:
    basic = base64.b64encode(
        f"{CONSUMER['client_id']}:{CONSUMER['client_secret']}".encode()
    ).decode()
    response = httpx.post(
        auth.token_url,
        data={"grant_type": "client_credentials", "scope": f"{AUDIENCE}/.default"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    wrong = base64.b64encode(f"{CONSUMER['client_id']}:nope".encode()).decode()
    refused = httpx.post(
        auth.token_url,
        data={"grant_type": "client_credentials", "scope": f"{AUDIENCE}/.default"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "stranger"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"scope": "slot/*.read"}, 400, "invalid_scope"),
        ({"scope": "/.default"}, 400, "invalid_scope"),
        ({"client_secret": ""}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_errors(auth: Auth, form: dict[str, str], status: int, error: str) -> None:
    base = {
        "grant_type": "client_credentials",
        "client_id": CONSUMER["client_id"],
        "client_secret": CONSUMER["client_secret"],
        "scope": f"{AUDIENCE}/.default",
    }
    response = httpx.post(auth.token_url, data={**base, **form})
    assert response.status_code == status
    assert response.json()["error"] == error


def _forge(claims: dict[str, object], key: SigningKey, **header: str) -> str:
    return jwt.encode(
        claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **header}
    )


def _claims(auth: Auth, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": auth.url,
        "sub": "x",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "appid": "x",
        "asid": CONSUMER["asid"],
        "groups": ["read:slot"],
        "scp": "slot/*.read",
    }
    claims.update(changes)
    return claims


def _unsigned(claims: dict[str, object]) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}."


def _hs256(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """The key-confusion attack: HMAC-signed with the RSA public key as the secret."""
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    signing_input = f"{enc({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{enc(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_negative_matrix(auth: Auth) -> None:
    good = get_token(auth)
    now = int(time.time())
    stranger = SigningKey.generate()
    public_pem = auth.keys.active.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head, body, sig = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["groups"].append("admin")
    tampered = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode(), sig]
    )
    other_key_same_kid = jwt.encode(
        _claims(auth),
        stranger.private_key,
        algorithm="RS256",
        headers={"kid": auth.keys.active.kid},
    )
    cases = {
        "no header": None,
        "basic scheme": f"Basic {good}",
        "empty bearer": "Bearer ",
        "garbage": "Bearer not.a.jwt",
        "expired": f"Bearer {_forge(_claims(auth, exp=now - 3600, iat=now - 7200, nbf=now - 7200), auth.keys.active)}",
        "not yet valid": f"Bearer {_forge(_claims(auth, nbf=now + 3600), auth.keys.active)}",
        "wrong issuer": f"Bearer {_forge(_claims(auth, iss='https://evil.example'), auth.keys.active)}",
        "wrong audience": f"Bearer {_forge(_claims(auth, aud='http://elsewhere/fhir'), auth.keys.active)}",
        "unknown kid": f"Bearer {_forge(_claims(auth), stranger)}",
        "known kid, other key": f"Bearer {other_key_same_kid}",
        "alg none": f"Bearer {_unsigned(_claims(auth))}",
        "HS256 with the public key": f"Bearer {_hs256(_claims(auth), public_pem, auth.keys.active.kid)}",
        "tampered payload": f"Bearer {tampered}",
        "missing exp": f"Bearer {_forge({k: v for k, v in _claims(auth).items() if k != 'exp'}, auth.keys.active)}",
    }
    v = verifier(auth)
    for name, header in cases.items():
        with pytest.raises(Unauthorized) as caught:
            asyncio.run(v.verify(header))
        assert caught.value.status == 401, name
        assert caught.value.headers["WWW-Authenticate"].startswith(
            'Bearer error="invalid_token"'
        ), name
    asyncio.run(v.verify(f"Bearer {good}"))  # and the real one passes


def test_scope_and_group_checks(auth: Auth) -> None:
    v = verifier(auth)
    booking = asyncio.run(v.verify(f"Bearer {get_token(auth)}"))
    dashboard = asyncio.run(v.verify(f"Bearer {get_token(auth, DASHBOARD)}"))
    for interaction in (
        Interaction.READ_SLOT,
        Interaction.CREATE_APPOINTMENT,
        Interaction.UPDATE_APPOINTMENT,
    ):
        authorize(booking, interaction)
    authorize(dashboard, Interaction.READ_SLOT)
    authorize(dashboard, Interaction.READ_DIRECTORY, "Schedule")
    for interaction in (Interaction.CREATE_APPOINTMENT, Interaction.READ_APPOINTMENT):
        with pytest.raises(Forbidden) as caught:
            authorize(dashboard, interaction)
        assert 'error="insufficient_scope"' in caught.value.headers["WWW-Authenticate"]
    now = int(time.time())
    no_scope = asyncio.run(
        v.verify(
            f"Bearer {_forge(_claims(auth, groups=['create:appointment'], scp='slot/*.read', iat=now), auth.keys.active)}"
        )
    )
    with pytest.raises(Forbidden):
        authorize(no_scope, Interaction.CREATE_APPOINTMENT)


def test_rotation_and_jwks_cache(auth: Auth) -> None:
    v = verifier(auth)
    old = get_token(auth)
    for _ in range(50):
        asyncio.run(v.verify(f"Bearer {old}"))
    assert v.jwks_fetches == 1, "the JWKS is fetched once, not per request"
    auth.keys.rotate()
    new = get_token(auth, audience=AUDIENCE + "/")  # another audience spelling: a new token
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    asyncio.run(v.verify(f"Bearer {new}"))  # the new key was already published as "upcoming"
    asyncio.run(v.verify(f"Bearer {old}"))  # the retired key still verifies its tokens
    assert v.jwks_fetches == 1


def test_interim_tokens(auth: Auth) -> None:
    interim = InterimTokens(consumer_ods="X26CN1", consumer_name="111", device_id="CONS-APP-4")
    token = asyncio.run(interim.token(audience=AUDIENCE))
    with pytest.raises(Unauthorized):
        asyncio.run(verifier(auth).verify(f"Bearer {token}"))
    relaxed = TokenVerifier(jwks_url=None, issuer=None, audience=AUDIENCE, allow_unsigned=True)
    caller = asyncio.run(relaxed.verify(f"Bearer {token}"))
    assert caller.mode == "interim" and caller.ods == "X26CN1"
    authorize(caller, Interaction.CREATE_APPOINTMENT)
    reader = InterimTokens(
        consumer_ods="X", consumer_name="x", device_id="d", requested_scope="organization/slot.read"
    )
    slot_reader = asyncio.run(
        relaxed.verify(f"Bearer {asyncio.run(reader.token(audience=AUDIENCE))}")
    )
    with pytest.raises(Forbidden):
        authorize(slot_reader, Interaction.CREATE_APPOINTMENT)
    bad = interim.claims(AUDIENCE)
    for change in (
        {"exp": bad["iat"] + 3600},
        {"reason_for_request": "admin"},
        {"requested_scope": "x"},
        {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900},
        {"requesting_organization": None},
    ):
        with pytest.raises(Unauthorized):
            asyncio.run(relaxed.verify(f"Bearer {_unsigned({**bad, **change})}"))


def test_consumer_token_cache(auth: Auth) -> None:
    tokens = ClientCredentialsTokens(
        token_url=auth.token_url,
        client_id=CONSUMER["client_id"],
        client_secret=CONSUMER["client_secret"],
    )

    async def many() -> set[str]:
        return set(await asyncio.gather(*(tokens.token(audience=AUDIENCE) for _ in range(20))))

    assert len(asyncio.run(many())) == 1 and tokens.requests == 1
    tokens.refresh_margin = 3600  # every cached token is now "about to expire"
    asyncio.run(tokens.token(audience=AUDIENCE))
    assert tokens.requests == 2
    bad = ClientCredentialsTokens(token_url=auth.token_url, client_id="stranger", client_secret="x")
    with pytest.raises(AuthError) as caught:
        asyncio.run(bad.token(audience=AUDIENCE))
    assert caught.value.error == "invalid_client"


def test_client_registry_file_keeps_only_hashes(tmp_path: object) -> None:
    from pathlib import Path

    from uec_booking.spine.auth import check_secret, hash_secret

    path = Path(str(tmp_path)) / "clients.json"
    stored = hash_secret("s3cret")
    assert (
        "s3cret" not in stored
        and check_secret("s3cret", stored)
        and not check_secret("other", stored)
    )
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "client_id": "c1",
                        "secret_hash": stored,
                        "asid": "1",
                        "ods": "X",
                        "groups": ["read:slot"],
                        "scopes": ["slot/*.read"],
                        "audiences": ["http://p/fhir"],
                    }
                ]
            }
        )
    )
    app = create_app(issuer="http://issuer", clients=ClientRegistry.from_file(path))
    with ThreadedServer(app) as server:
        form = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s3cret"}
        ok = httpx.post(
            f"{server.url}/oauth2/token", data={**form, "scope": "http://p/fhir/.default"}
        )
        other = httpx.post(
            f"{server.url}/oauth2/token", data={**form, "scope": "http://elsewhere/fhir/.default"}
        )
    assert (
        ok.status_code == 200
        and other.status_code == 400
        and other.json()["error"] == "invalid_scope"
    )
