"""The consumer's token sources: client-credentials tokens cached per audience and refreshed
before expiry (token requests counted at the service), errors, and the interim unsigned JWT
compared with the assurance tool's (TKW) templates."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.auth_support import AUDIENCE, CONSUMER, OTHER_AUDIENCE, running_auth
from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens, TokenSource
from uec_booking.consumer.errors import AuthError, ServiceUnreachable
from uec_booking.consumer.platform_auth import PlatformTokens
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.tokens_interim import check_interim

TESTKIT_CLAIMS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "testkit" / "interim_claims.json").read_text()
)


def source(token_url: str, **options: Any) -> ClientCredentialsTokens:
    return ClientCredentialsTokens(
        token_url=token_url,
        client_id=CONSUMER["client_id"],
        client_secret=CONSUMER["client_secret"],
        **options,
    )


def test_cached_per_audience_one_request_for_many_coroutines() -> None:
    with running_auth() as auth:
        tokens: TokenSource = source(auth.token_url)  # mypy checks it fits the protocol

        async def many() -> tuple[set[str], set[str]]:
            first = await asyncio.gather(*(tokens.token(audience=AUDIENCE) for _ in range(25)))
            second = await asyncio.gather(
                *(tokens.token(audience=OTHER_AUDIENCE) for _ in range(5)),
                *(tokens.token(audience=AUDIENCE + "/") for _ in range(5)),
            )
            return set(first), set(second)

        first, second = asyncio.run(many())
        assert len(first) == 1 and len(second) == 2 and first <= second
        assert auth.token_requests() == 2, "one per audience, however many ask at once"
        claims = jwt.decode(first.pop(), options={"verify_signature": False})
        assert claims["aud"] == AUDIENCE
        verify_token = auth.verifier()
        asyncio.run(verify_token.verify(f"Bearer {asyncio.run(tokens.token(audience=AUDIENCE))}"))
        assert auth.token_requests() == 2


def test_refreshed_before_expiry_and_after_invalidate() -> None:
    now = [1000.0]
    with running_auth(token_lifetime=2) as auth:
        # refresh_margin is capped at half the lifetime: refreshed 1 s after it was issued.
        tokens = source(auth.token_url, refresh_margin=60.0, clock=lambda: now[0])
        first = asyncio.run(tokens.token(audience=AUDIENCE))
        now[0] += 0.9
        assert asyncio.run(tokens.token(audience=AUDIENCE)) == first
        assert auth.token_requests() == 1
        now[0] += 0.2
        second = asyncio.run(tokens.token(audience=AUDIENCE))
        assert second != first and auth.token_requests() == 2
        tokens.invalidate(AUDIENCE + "/")  # the provider answered 401
        third = asyncio.run(tokens.token(audience=AUDIENCE))
        assert third != second and auth.token_requests() == 3


def test_refused_credentials_are_auth_errors() -> None:
    with running_auth() as auth:
        wrong = ClientCredentialsTokens(
            token_url=auth.token_url, client_id=CONSUMER["client_id"], client_secret="nope"
        )
        with pytest.raises(AuthError) as caught:
            asyncio.run(wrong.token(audience=AUDIENCE))
        assert caught.value.error == "invalid_client" and "401" in str(caught.value)
        stranger = ClientCredentialsTokens(
            token_url=auth.token_url, client_id="stranger", client_secret="x"
        )
        with pytest.raises(AuthError, match="invalid_client"):
            asyncio.run(stranger.token(audience=AUDIENCE))
        with pytest.raises(AuthError) as scope:
            asyncio.run(source(auth.token_url).token(audience=""))
        assert scope.value.error == "invalid_scope"
        not_json = source(f"{auth.url}/no-such-endpoint")
        with pytest.raises(AuthError, match="without JSON"):
            asyncio.run(not_json.token(audience=AUDIENCE))


def test_service_down_is_service_unavailable() -> None:
    with running_auth() as auth:
        auth.counter.fail_with = 503
        with pytest.raises(ServiceUnreachable, match="503"):
            asyncio.run(source(auth.token_url).token(audience=AUDIENCE))
    nobody = f"http://127.0.0.1:{free_port()}/oauth2/token"
    with pytest.raises(ServiceUnreachable, match="unreachable"):
        asyncio.run(source(nobody, timeout=2.0).token(audience=AUDIENCE))


# --- interim tokens ------------------------------------------------------------------------


def _template(name: str) -> dict[str, Any]:
    result: dict[str, Any] = TESTKIT_CLAIMS[name]
    return result


def _decode(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    return _decode(head), _decode(body), signature


PRACTITIONER = _template("book_cancel")["requesting_practitioner"]


@pytest.mark.parametrize(
    ("template", "scope", "practitioner"),
    [
        ("book_cancel", "patient/appointment.write", PRACTITIONER),
        ("metadata", "organization/slot.read", PRACTITIONER),
        ("slot_search_no_practitioner", None, None),
    ],
)
def test_interim_token_matches_the_tkw_templates(
    template: str, scope: str | None, practitioner: dict[str, Any] | None
) -> None:
    expected = _template(template)
    interim = InterimTokens(
        consumer_ods="GPCA0001",
        consumer_name="Emergency Booking Assurance",
        device_id="CONS-APP-4",
        practitioner=practitioner,
        requested_scope=scope or expected["requested_scope"],
    )
    before = int(time.time())
    header, claims, signature = _parts(asyncio.run(interim.token(audience=AUDIENCE)))
    assert header == {"alg": "none", "typ": "JWT"} and signature == ""
    assert set(claims) - {"jti"} == set(expected)  # the same claims, nothing missing
    assert claims["aud"] == AUDIENCE and claims["exp"] - claims["iat"] == 300
    assert before <= claims["iat"] <= int(time.time())
    assert claims["reason_for_request"] == "directcare"
    assert claims["requested_scope"] == expected["requested_scope"]
    assert claims["requesting_organization"] == expected["requesting_organization"]
    device = claims["requesting_device"]
    assert (
        device["resourceType"] == "Device"
        and device["identifier"] == expected["requesting_device"]["identifier"]
    )
    if practitioner:
        assert claims["requesting_practitioner"] == practitioner
        assert claims["sub"] == practitioner["id"]


@pytest.mark.parametrize(
    ("interaction", "scope"),
    [
        (Interaction.READ_METADATA, "organization/slot.read"),
        (Interaction.READ_SLOT, "organization/slot.read"),
        (Interaction.READ_APPOINTMENT, "patient/appointment.read"),
        (Interaction.SEARCH_APPOINTMENT, "patient/appointment.read"),
        (Interaction.CREATE_APPOINTMENT, "patient/appointment.write"),
        (Interaction.UPDATE_APPOINTMENT, "patient/appointment.write"),
    ],
)
def test_interim_scope_follows_the_interaction(interaction: Interaction, scope: str) -> None:
    """Issue 11: every request said patient/appointment.write, so slot search got 403."""
    tokens: TokenSource = InterimTokens(consumer_ods="X26CN1", consumer_name="111", device_id="d")
    _, claims, _ = _parts(asyncio.run(tokens.token(audience=AUDIENCE, interaction=interaction)))
    assert claims["requested_scope"] == scope


def test_interim_claims_are_configured_and_new_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from uec_booking.consumer.config import load_config
    from uec_booking.consumer.wiring import token_source

    practitioner = {"resourceType": "Practitioner", "id": "10019", "name": [{"family": "Jones"}]}
    for name, value in {
        "UEC_AUTH_MODE": "interim",
        "UEC_INTERIM_ISSUER": "https://111.example.nhs.uk/",
        "UEC_INTERIM_PRACTITIONER": json.dumps(practitioner),
        "UEC_INTERIM_DEVICE_ID": "CONS-APP-9",
        "UEC_CONSUMER_ODS": "A1001",
        "UEC_CONSUMER_NAME": "111 North East",
    }.items():
        monkeypatch.setenv(name, value)
    config = load_config(
        pds_url="http://pds",
        dos_wsdl="http://dos",
        dos_username="u",
        dos_password="p",
        sds_url="ldap://sds",
        consumer_asid="200000000201",
    )
    tokens = token_source(config)
    first = asyncio.run(tokens.token(audience=AUDIENCE, interaction=Interaction.READ_SLOT))
    second = asyncio.run(tokens.token(audience=AUDIENCE, interaction=Interaction.READ_SLOT))
    assert first != second, "a new token per request"
    _, claims, _ = _parts(first)
    assert claims["iss"] == "https://111.example.nhs.uk/"
    assert claims["sub"] == "10019" and claims["requesting_practitioner"] == practitioner
    assert claims["requesting_device"]["identifier"][0]["value"] == "CONS-APP-9"
    assert claims["requesting_organization"]["identifier"][0]["value"] == "A1001"
    assert claims["requesting_organization"]["name"] == "111 North East"
    check_interim(first, audience=AUDIENCE, leeway=0)  # what the provider will hold it to


def test_client_credentials_ignore_the_interaction_and_cache_per_audience() -> None:
    with running_auth() as auth:
        tokens = source(auth.token_url)
        read = asyncio.run(tokens.token(audience=AUDIENCE, interaction=Interaction.READ_SLOT))
        book = asyncio.run(
            tokens.token(audience=AUDIENCE, interaction=Interaction.CREATE_APPOINTMENT)
        )
        assert read == book and auth.token_requests() == 1


def test_platform_assertion_is_what_the_platform_checks() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = PlatformTokens(
        token_url="https://int.api.service.nhs.uk/oauth2/token",
        api_key="app-key",
        private_key=key,
        kid="int-1",
    )
    first, second = tokens.assertion(), tokens.assertion()
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "RS512", "typ": "JWT", "kid": "int-1"}
    claims = jwt.decode(first, key.public_key(), algorithms=["RS512"], audience=tokens.token_url)
    assert claims["iss"] == claims["sub"] == "app-key"
    assert 0 < claims["exp"] - time.time() <= 300
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]
