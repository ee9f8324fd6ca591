"""Provider staff block and unblock slots: from the CLI (each store) and through the admin
API (`PUT /fhir/Slot/<id>`, the provider-admin scope only). A blocked slot is never offered
and cannot be booked; the slot views see every change at once; every change is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.provider.conftest import Provider, seed_db
from tests.provider.helpers import FHIR_JSON, SERVICE, appointment, search_free
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.cli import app as cli
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.netutil import free_port
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store
from uec_booking.provider.store.audit import events
from uec_booking.spine.auth import ClientRegistry
from uec_booking.spine.auth import create_app as auth_app

DIRECTORY = sample_data.load()
CONSUMER = DIRECTORY["consumer_systems"][0]
ADMIN = DIRECTORY["provider_admin_clients"][0]


def audit_trail(db_url: str) -> list[Any]:
    async def load() -> list[Any]:
        store = Store(db_url)
        try:
            async with store.read() as session:
                return await events(session)
        finally:
            await store.dispose()

    return asyncio.run(load())


def book(client: httpx.Client, base: str, slot: dict[str, Any]) -> httpx.Response:
    return client.post(f"{base}/Appointment", json=appointment(slot), headers=FHIR_JSON)


def test_cli_blocks_a_range_and_one_slot_then_unblocks(provider: Provider) -> None:
    client, base, db = provider.client, provider.url, provider.db_url
    free = search_free(client, base)  # also warms this worker's slot view
    assert len(free) > 6
    first, second, third = free[0], free[1], free[2]
    runner = CliRunner()
    ranged = runner.invoke(
        cli,
        [
            "provider-slots", "block", "--db", db, "--service", SERVICE,
            "--from", first["start"], "--to", third["start"], "--reason", "Clinician off sick",
        ],
    )  # fmt: skip
    assert ranged.exit_code == 0, ranged.output
    blocked = {s["id"] for s in free if first["start"] <= s["start"] < third["start"]}
    assert f"{len(blocked)} slots blocked" in ranged.output
    single = runner.invoke(
        cli, ["provider-slots", "block", third["id"], "--db", db, "--reason", "Room closed"]
    )
    assert single.exit_code == 0 and "1 slots blocked" in single.output
    blocked.add(third["id"])

    offered = {s["id"] for s in search_free(client, base)}
    assert not blocked & offered
    read = client.get(f"{base}/Slot/{second['id']}").json()
    assert (read["status"], read["comment"]) == ("busy-unavailable", "Clinician off sick")
    refused = book(client, base, second)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["diagnostics"] == "Slot no longer available"

    events_ = [e for e in audit_trail(db) if e.interaction == "admin:block-slot"]
    assert {e.resource_id for e in events_} == blocked
    assert {e.detail for e in events_} == {"Clinician off sick", "Room closed"}
    assert all(e.client_id and e.client_id.startswith("cli:") for e in events_)

    freed = runner.invoke(
        cli,
        ["provider-slots", "unblock", "--db", db, "--service", SERVICE,
         "--from", first["start"], "--to", free[-1]["end"], "--reason", "Clinician back"],
    )  # fmt: skip
    assert freed.exit_code == 0 and f"{len(blocked)} slots unblocked" in freed.output
    unblocked = [e for e in audit_trail(db) if e.interaction == "admin:unblock-slot"]
    assert {e.resource_id for e in unblocked} == blocked
    assert {e.detail for e in unblocked} == {"Clinician back"}  # the reason goes to the audit
    assert blocked <= {s["id"] for s in search_free(client, base)}
    assert "comment" not in client.get(f"{base}/Slot/{second['id']}").json()
    assert book(client, base, second).status_code == 201


def test_cli_never_blocks_a_booked_slot_and_refuses_bad_requests(provider: Provider) -> None:
    client, base, db = provider.client, provider.url, provider.db_url
    slot = search_free(client, base)[0]
    assert book(client, base, slot).status_code == 201
    runner = CliRunner()
    result = runner.invoke(
        cli, ["provider-slots", "block", slot["id"], "--db", db, "--reason", "x"]
    )
    assert result.exit_code == 0
    assert "0 slots blocked, 1 left as they are" in result.output
    assert client.get(f"{base}/Slot/{slot['id']}").json()["status"] == "busy"
    for args in (
        ["provider-slots", "block", slot["id"], "--db", db],  # no reason
        ["provider-slots", "block", "no-such-slot", "--db", db, "--reason", "x"],
        ["provider-slots", "block", "--service", SERVICE, "--db", db, "--reason", "x"],
    ):
        bad = runner.invoke(cli, args)
        assert bad.exit_code == 2, bad.output
        assert bad.output.startswith("error: ") and len(bad.output.strip().splitlines()) == 1


@dataclass
class Secured:
    base: str
    auth_url: str
    db_url: str

    def token(self, client: dict[str, str]) -> str:
        source = ClientCredentialsTokens(
            token_url=f"{self.auth_url}/oauth2/token",
            client_id=client["client_id"],
            client_secret=client["client_secret"],
        )
        return asyncio.run(source.token(audience=self.base))


@pytest.fixture
def secured(db_url: str) -> Iterator[Secured]:
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
        ods_code=DIRECTORY["provider_system"]["ods"],
    )
    auth = auth_app(
        issuer=issuer, clients=ClientRegistry.from_directory(DIRECTORY, providers=[base])
    )
    with (
        ThreadedServer(auth, port=auth_port),
        ThreadedServer(create_app(settings), port=provider_port),
    ):
        yield Secured(base, issuer, db_url)


def put_status(
    s: Secured, slot: dict[str, Any], status: str, token: str, **extra: Any
) -> httpx.Response:
    body = {**slot, "status": status, **extra}
    body.pop("meta", None)
    return httpx.put(
        f"{s.base}/Slot/{slot['id']}",
        json=body,
        headers={**FHIR_JSON, "Authorization": f"Bearer {token}"},
    )


def test_admin_api_blocks_and_frees_a_slot_with_the_admin_scope_only(secured: Secured) -> None:
    consumer, admin = secured.token(CONSUMER), secured.token(ADMIN)
    auth = {"Authorization": f"Bearer {consumer}"}
    with httpx.Client(headers=auth) as client:
        free = search_free(client, secured.base)
        slot, other = free[0], free[1]
        assert other["start"] != free[-1]["start"]

        # A consumer token: insufficient scope, nothing changes.
        refused = put_status(secured, slot, "busy-unavailable", consumer)
        assert refused.status_code == 403, refused.text
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
        assert refused.json()["resourceType"] == "OperationOutcome"

        done = put_status(secured, slot, "busy-unavailable", admin, comment="Clinician off sick")
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["comment"]) == (
            "busy-unavailable",
            "Clinician off sick",
        )
        assert done.headers["ETag"] == f'W/"{done.json()["meta"]["versionId"]}"'
        assert slot["id"] not in {s["id"] for s in search_free(client, secured.base)}
        assert book(client, secured.base, slot).status_code == 422

        # Only status and comment may change; a stale If-Match is a conflict.
        moved = put_status(secured, other, "busy-unavailable", admin, start=free[-1]["start"])
        assert moved.status_code == 422
        stale = httpx.put(
            f"{secured.base}/Slot/{other['id']}",
            json={**other, "status": "busy-unavailable"},
            headers={**FHIR_JSON, "Authorization": f"Bearer {admin}", "If-Match": 'W/"99"'},
        )
        assert stale.status_code == 409
        assert put_status(secured, other, "busy", admin).status_code == 422

        freed = put_status(secured, slot, "free", admin)
        assert freed.status_code == 200 and "comment" not in freed.json()
        assert slot["id"] in {s["id"] for s in search_free(client, secured.base)}
        assert book(client, secured.base, slot).status_code == 201
        # Booked now: staff cannot block it (cancel the Appointment first).
        assert put_status(secured, slot, "busy-unavailable", admin).status_code == 422

    trail = [e for e in audit_trail(secured.db_url) if e.interaction.startswith("admin:")]
    assert [(e.interaction, e.status_code, e.client_id, e.ods) for e in trail] == [
        ("admin:update-slot", 403, None, None),  # the consumer's attempt
        ("admin:block-slot", 200, ADMIN["client_id"], ADMIN["ods"]),
        ("admin:update-slot", 422, ADMIN["client_id"], ADMIN["ods"]),  # start changed
        ("admin:update-slot", 409, ADMIN["client_id"], ADMIN["ods"]),  # stale If-Match
        ("admin:update-slot", 422, ADMIN["client_id"], ADMIN["ods"]),  # status busy
        ("admin:unblock-slot", 200, ADMIN["client_id"], ADMIN["ods"]),
        ("admin:update-slot", 422, ADMIN["client_id"], ADMIN["ods"]),  # booked meanwhile
    ]


def test_no_consumer_system_is_given_the_admin_scope() -> None:
    assert all("provider-admin" not in c["scopes"] for c in DIRECTORY["consumer_systems"])


def test_the_capability_statement_lists_slot_update(provider: Provider) -> None:
    statement = provider.client.get(f"{provider.url}/metadata").json()
    slot = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Slot")
    assert "update" in {i["code"] for i in slot["interaction"]}


def test_a_cli_range_needs_both_ends(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    result = CliRunner().invoke(
        cli, ["provider-slots", "block", "--service", SERVICE, "--from", "2030-01-01", "--db", db]
    )
    assert result.exit_code == 2 and result.output.startswith("error: ")
