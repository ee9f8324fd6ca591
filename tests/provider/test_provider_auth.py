"""The provider with authentication on: every request needs a valid token for its interaction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import orjson
import pytest

from tests.auth_support import unsigned
from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment, later
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.spine.auth import ClientRegistry
from uec_booking.spine.auth import create_app as auth_app
from uec_booking.spine.auth_keys import SigningKey

DIRECTORY = sample_data.load()
OTHER_PROVIDER = "http://127.0.0.1:1/fhir"  # registered with the auth service, not this one
CONSUMER, DASHBOARD = DIRECTORY["consumer_systems"][:2]


@dataclass
class Secured:
    base: str
    db_url: str
    auth_url: str

    def token(self, client: dict[str, str] = CONSUMER) -> str:
        source = ClientCredentialsTokens(
            token_url=f"{self.auth_url}/oauth2/token",
            client_id=client["client_id"],
            client_secret=client["client_secret"],
        )
        return asyncio.run(source.token(audience=self.base))


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    db_url = f"sqlite:///{tmp_path / 'secured.sqlite3'}"
    seed_db(db_url, days=2)
    auth_port, provider_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{auth_port}"
    base = f"http://127.0.0.1:{provider_port}/fhir"
    settings = ProviderSettings(
        db_url=db_url,
        public_base_url=base,
        auth_mode=AuthMode.SIGNED,
        jwks_url=f"{issuer}/.well-known/jwks.json",
        token_issuer=issuer,
    )
    registry = ClientRegistry.from_directory(DIRECTORY, providers=[base, OTHER_PROVIDER])
    auth = auth_app(issuer=issuer, clients=registry)
    with (
        ThreadedServer(auth, port=auth_port),
        ThreadedServer(create_app(settings), port=provider_port),
    ):
        yield Secured(base, db_url, issuer)


def slot_search(s: Secured, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(
        f"{s.base}/Slot",
        params=[("status", "free"), ("start", f"le{later(24)}"), ("start", f"ge{later(0)}")],
        headers=headers,
    )


def test_booking_with_a_token_and_audit_provenance(secured: Secured) -> None:
    token = secured.token()
    found = slot_search(secured, token)
    assert found.status_code == 200
    slot = found.json()["entry"][0]["resource"]
    booked = httpx.post(
        f"{secured.base}/Appointment",
        content=orjson.dumps(appointment(slot)),
        headers={**FHIR_JSON, "Authorization": f"Bearer {token}", "Ssp-TraceID": "trace-1"},
    )
    assert booked.status_code == 201, booked.text
    audit = subprocess.run(
        [sys.executable, "-m", "uec_booking", "audit", "--db", secured.db_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    event = json.loads(audit.stdout.splitlines()[-1])
    assert (event["client_id"], event["asid"], event["ods"], event["trace_id"]) == (
        CONSUMER["client_id"],
        CONSUMER["asid"],
        CONSUMER["ods"],
        "trace-1",
    )


def test_refusals_are_rfc6750_with_an_operation_outcome(secured: Secured) -> None:
    good = secured.token()
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": secured.auth_url,
            "aud": secured.base,
            "iat": now - 7200,
            "exp": now - 3600,
            "sub": "x",
        },
        SigningKey.generate().private_key,
        algorithm="RS256",
        headers={"kid": "nope"},
    )
    for token in (None, "garbage", expired, good[:-4] + "AAAA"):
        response = slot_search(secured, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert response.json()["resourceType"] == "OperationOutcome"
    # Another provider's token (wrong aud) is refused too.
    other = ClientCredentialsTokens(
        token_url=f"{secured.auth_url}/oauth2/token",
        client_id=CONSUMER["client_id"],
        client_secret=CONSUMER["client_secret"],
    )
    elsewhere = asyncio.run(other.token(audience=OTHER_PROVIDER))
    assert slot_search(secured, elsewhere).status_code == 401


def test_dashboard_may_search_but_not_book(secured: Secured) -> None:
    token = secured.token(DASHBOARD)
    found = slot_search(secured, token)
    assert found.status_code == 200
    slot = found.json()["entry"][0]["resource"]
    refused = httpx.post(
        f"{secured.base}/Appointment",
        content=orjson.dumps(appointment(slot)),
        headers={**FHIR_JSON, "Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert (
        httpx.get(
            f"{secured.base}/Slot/{slot['id']}", headers={"Authorization": f"Bearer {token}"}
        ).json()["status"]
        == "free"
    )


def test_unsigned_interim_tokens_refused_in_signed_mode(secured: Secured) -> None:
    interim = InterimTokens(consumer_ods="X26CN1", consumer_name="111", device_id="d")
    assert (
        slot_search(secured, asyncio.run(interim.token(audience=secured.base))).status_code == 401
    )


def _interim_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_interim_mode_over_http(tmp_path: Path) -> None:
    """Issue 11 #3 / issue 14 #10: a provider in interim mode takes the consumer's unsigned
    token with the scope of the interaction, and refuses a wrong aud, a missing iss/sub or a
    non-empty signature (401 invalid_token) and a scope for another interaction (403)."""
    db_url = f"sqlite:///{tmp_path / 'interim.sqlite3'}"
    seed_db(db_url, days=2)
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = ProviderSettings(db_url=db_url, public_base_url=base, auth_mode=AuthMode.INTERIM)
    tokens = InterimTokens(
        consumer_ods="GPCA0001",
        consumer_name="Emergency Booking Assurance",
        device_id="CONS-APP-4",
        issuer="https://consumer.example.nhs.uk/",
    )

    def token(interaction: Interaction, audience: str = base) -> str:
        return asyncio.run(tokens.token(audience=audience, interaction=interaction))

    def forged(**changes: object) -> str:
        claims = {**tokens.claims(base, interaction=Interaction.READ_SLOT), **changes}
        return unsigned({k: v for k, v in claims.items() if v is not None})

    with ThreadedServer(create_app(settings), port=port):

        def search(authorization: str) -> httpx.Response:
            return httpx.get(
                f"{base}/Slot",
                # From now on: a slot that has started cannot be booked.
                params=[
                    ("status", "free"),
                    ("start", f"ge{later(0)}"),
                    ("start", f"le{later(24)}"),
                ],
                headers=_interim_header(authorization),
            )

        found = search(token(Interaction.READ_SLOT))
        assert found.status_code == 200, found.text
        assert (
            httpx.get(
                f"{base}/metadata", headers=_interim_header(token(Interaction.READ_METADATA))
            ).status_code
            == 200
        )
        for bad in (
            token(Interaction.READ_SLOT, audience="http://elsewhere.example/fhir"),
            forged(iss=None),
            forged(sub=None),
            forged(aud=None),
            token(Interaction.READ_SLOT) + "c2lnbmF0dXJl",  # a signature where none may be
        ):
            refused = search(bad)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            assert refused.json()["resourceType"] == "OperationOutcome"
        slot = found.json()["entry"][0]["resource"]
        for interaction, status in (
            (Interaction.READ_SLOT, 403),  # organization/slot.read may not book
            (Interaction.READ_APPOINTMENT, 403),  # patient/appointment.read may not book
            (Interaction.CREATE_APPOINTMENT, 201),  # patient/appointment.write may
        ):
            response = httpx.post(
                f"{base}/Appointment",
                content=orjson.dumps(appointment(slot)),
                headers={**FHIR_JSON, **_interim_header(token(interaction))},
            )
            assert response.status_code == status, response.text
            if status == 403:
                assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        booked = response.json()["id"]
        read = httpx.get(
            f"{base}/Appointment/{booked}",
            headers=_interim_header(token(Interaction.READ_APPOINTMENT)),
        )
        assert read.status_code == 200
        assert search(token(Interaction.READ_APPOINTMENT)).status_code == 403


def test_an_unreachable_jwks_is_503_with_retry_after_and_writes_nothing(
    secured: Secured,
) -> None:
    """A good token that cannot be checked is the provider's trouble, not the caller's."""
    token = secured.token()
    port = free_port()
    settings = ProviderSettings(
        db_url=secured.db_url,
        public_base_url=secured.base,
        auth_mode=AuthMode.SIGNED,
        jwks_url=f"http://127.0.0.1:{free_port()}/.well-known/jwks.json",  # nothing listens
        token_issuer=secured.auth_url,
    )
    slot = slot_search(secured, token).json()["entry"][0]["resource"]
    with ThreadedServer(create_app(settings), port=port):
        blind = Secured(f"http://127.0.0.1:{port}/fhir", secured.db_url, secured.auth_url)
        searched = slot_search(blind, token)
        booked = httpx.post(
            f"{blind.base}/Appointment",
            content=orjson.dumps(appointment(slot)),
            headers={**FHIR_JSON, "Authorization": f"Bearer {token}"},
        )
    for response in (searched, booked):
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "JWKS unavailable" in outcome["issue"][0]["diagnostics"]
    again = httpx.get(
        f"{secured.base}/Slot/{slot['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.json()["status"] == "free"
