"""Who may touch a booking (er_overview: "consumer org not permitted to cancel → 403"), and
`X-Request-ID` scoped per consumer (fs_xti), with two real consumer organisations holding
real signed tokens from the authentication stand-in."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, select

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.netutil import free_port
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AppointmentAccess, AuthMode, ProviderSettings
from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.models import AuditEvent
from uec_booking.spine.auth import ClientRegistry
from uec_booking.spine.auth import create_app as auth_app

DIRECTORY = copy.deepcopy(sample_data.load())
FIRST: dict[str, Any] = DIRECTORY["consumer_systems"][0]
# A second assured 111 service: another organisation, another system, the same rights.
SECOND: dict[str, Any] = dict(
    FIRST,
    name="Another NHS 111 Consumer",
    ods="X26CN2",
    asid="200000000202",
    party_key="X26CN2-0000202",
    client_id="another-111-consumer",
    client_secret="another-secret-for-tests",
)
DIRECTORY["consumer_systems"].append(SECOND)


@dataclass
class TwoConsumers:
    base: str
    db_url: str
    tokens: dict[str, str]
    auth_url: str

    def headers(self, who: dict[str, Any], **extra: str) -> dict[str, str]:
        return {
            **FHIR_JSON,
            "Authorization": f"Bearer {self.tokens[who['client_id']]}",
            "Ssp-From": who["asid"],
            **extra,
        }


def _serve(db_url: str, access: AppointmentAccess) -> Iterator[TwoConsumers]:
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
        appointment_access=access,
    )
    auth = auth_app(
        issuer=issuer, clients=ClientRegistry.from_directory(DIRECTORY, providers=[base])
    )
    with (
        ThreadedServer(auth, port=auth_port),
        ThreadedServer(create_app(settings), port=provider_port),
    ):
        tokens = {}
        for who in (FIRST, SECOND):
            source = ClientCredentialsTokens(
                token_url=f"{issuer}/oauth2/token",
                client_id=who["client_id"],
                client_secret=who["client_secret"],
            )
            tokens[who["client_id"]] = asyncio.run(source.token(audience=base))
        yield TwoConsumers(base, db_url, tokens, issuer)


@pytest.fixture
def two(db_url: str) -> Iterator[TwoConsumers]:
    yield from _serve(db_url, AppointmentAccess.ORGANISATION)


def _free_slot(t: TwoConsumers) -> dict[str, Any]:
    token = t.tokens[FIRST["client_id"]]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as c:
        return search_free(c, t.base)[0]


def _book(
    t: TwoConsumers, who: dict[str, Any], slot: dict[str, Any] | bytes, **headers: str
) -> Any:
    """POST a booking of `slot`, or send these exact bytes again."""
    body = slot if isinstance(slot, bytes) else orjson.dumps(appointment(slot))
    return httpx.post(
        f"{t.base}/Appointment",
        content=body,
        headers=t.headers(who, **headers),
    )


def test_only_the_booking_organisation_reads_searches_and_cancels(two: TwoConsumers) -> None:
    slot = _free_slot(two)
    booked = _book(two, FIRST, slot)
    assert booked.status_code == 201, booked.text
    appt = booked.json()
    url = f"{two.base}/Appointment/{appt['id']}"

    for path in ("", "/_history", "/_history/1"):
        read = httpx.get(url + path, headers=two.headers(SECOND))
        assert read.status_code == 403, (path, read.text)
        assert read.json()["resourceType"] == "OperationOutcome"
        assert read.json()["issue"][0]["code"] == "forbidden"
    cancel = httpx.put(
        url,
        content=orjson.dumps(dict(appt, status="cancelled")),
        headers=two.headers(SECOND, **{"If-Match": booked.headers["etag"]}),
    )
    assert cancel.status_code == 403, cancel.text
    assert cancel.json()["issue"][0]["code"] == "forbidden"
    search = httpx.get(
        f"{two.base}/Appointment",
        params={"patient:identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
        headers=two.headers(SECOND),
    )
    assert search.status_code == 200
    assert search.json().get("entry", []) == []

    # The slot is still taken; the booking organisation still sees and cancels its booking.
    assert httpx.get(url, headers=two.headers(FIRST)).status_code == 200
    mine = httpx.get(
        f"{two.base}/Appointment",
        params={"patient:identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
        headers=two.headers(FIRST),
    )
    assert [e["resource"]["id"] for e in mine.json()["entry"]] == [appt["id"]]
    ok = httpx.put(
        url,
        content=orjson.dumps(dict(appt, status="cancelled")),
        headers=two.headers(FIRST, **{"If-Match": booked.headers["etag"]}),
    )
    assert ok.status_code == 200, ok.text

    engine = create_engine(sync_url(two.db_url))
    with engine.connect() as conn:
        refused = conn.execute(
            select(AuditEvent.interaction, AuditEvent.ods, AuditEvent.client_id).where(
                AuditEvent.status_code == 403
            )
        ).all()
    engine.dispose()
    assert sorted(refused) == sorted(
        [("read:appointment", SECOND["ods"], SECOND["client_id"])] * 3
        + [("update:appointment", SECOND["ods"], SECOND["client_id"])]
    )


@pytest.fixture
def shared(tmp_path: Any) -> Iterator[TwoConsumers]:
    yield from _serve(f"sqlite:///{tmp_path / 'shared.sqlite3'}", AppointmentAccess.ANY)


def test_a_provider_may_allow_every_assured_consumer(shared: TwoConsumers) -> None:
    booked = _book(shared, FIRST, _free_slot(shared))
    assert booked.status_code == 201
    read = httpx.get(
        f"{shared.base}/Appointment/{booked.json()['id']}", headers=shared.headers(SECOND)
    )
    assert read.status_code == 200


def test_request_ids_are_per_consumer_and_compare_the_request(two: TwoConsumers) -> None:
    token = two.tokens[FIRST["client_id"]]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as c:
        first_slot, second_slot, third_slot = search_free(c, two.base)[:3]
    # The body is kept: `created` says the second it was made, so a rebuilt one may differ.
    first_body = orjson.dumps(appointment(first_slot))
    booked = _book(two, FIRST, first_body, **{"X-Request-ID": "same-id"})
    assert booked.status_code == 201
    # Another consumer may use the same id for its own booking: it books, and learns nothing.
    theirs = _book(two, SECOND, second_slot, **{"X-Request-ID": "same-id"})
    assert theirs.status_code == 201, theirs.text
    assert booked.json()["id"] not in theirs.text
    # The same request again: the original outcome (409 naming the booking it made).
    again = _book(two, FIRST, first_body, **{"X-Request-ID": "same-id"})
    assert again.status_code == 409
    assert booked.json()["id"] in again.headers["content-location"]
    # The same id for a different request: refused, saying why, naming no appointment.
    different = _book(two, FIRST, third_slot, **{"X-Request-ID": "same-id"})
    assert different.status_code == 422, different.text
    outcome = different.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "different request" in outcome["issue"][0]["diagnostics"]
    assert "content-location" not in different.headers
    assert booked.json()["id"] not in different.text
