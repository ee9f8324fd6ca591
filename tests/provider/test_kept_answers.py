"""A Slot search answered again whole (`resources/slot.KeptAnswer`) is exactly the answer the
tables give at that moment: after any write another worker commits, past its window, and
for another caller. Each check puts a provider with its slot views beside one with them off,
both on the same database, and compares their answers byte for byte but the Bundle id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.provider.conftest import seed_db
from tests.provider.helpers import (
    FHIR_JSON,
    SERVICE,
    OwnLoop,
    appointment,
    seeded,
    service_search,
)
from tests.provider.test_slot_cache import _change, _concrete, search_items
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store


class Providers(OwnLoop):
    """`viewed`: the provider as it runs; `tables`: the same with its views off; `writer`: a
    store writing as another worker would."""

    def __init__(self, db_url: str) -> None:
        super().__init__()
        self.stack = AsyncExitStack()
        self.writer = Store(db_url)
        self.viewed_app = create_app(ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF))
        tables = ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF, slot_cache_views=0)
        self.tables_app = create_app(tables)
        self.viewed = self.run(self._client(self.viewed_app))
        self.tables = self.run(self._client(self.tables_app))

    async def _client(self, app: Any) -> httpx.AsyncClient:
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://provider.test")
        return await self.stack.enter_async_context(client)

    @property
    def reused(self) -> int:
        return int(self.viewed_app.state.slot_cache.answers_reused)

    def get(self, client: httpx.AsyncClient, items: list[tuple[str, str]], **headers: str) -> Any:
        """`accept_encoding="gzip"`: the header Accept-Encoding."""
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        return self.run(client.get("/fhir/Slot", params=items, headers=named))

    async def aclose(self) -> None:
        await self.stack.aclose()
        await self.writer.dispose()


@pytest.fixture
def providers(db_url: str) -> Iterator[Providers]:
    with seeded(Providers, db_url) as world:
        yield world


def _same_answer(viewed: httpx.Response, tables: httpx.Response) -> None:
    """The same status, headers and body but the Bundle's id and our X-Request-ID."""
    assert viewed.status_code == tables.status_code, (viewed.text, tables.text)
    skip = {"x-request-id"}
    xml = viewed.headers["content-type"].startswith("application/fhir+xml")
    if viewed.headers.get("content-encoding") == "gzip" or xml:
        # Compressed in other pieces, or XML fragments declaring their own namespace: the
        # bodies are compared (as canonical XML).
        skip.add("content-length")
    assert [h for h in viewed.headers.multi_items() if h[0] not in skip] == [
        h for h in tables.headers.multi_items() if h[0] not in skip
    ]
    if xml:
        one_xml, other_xml = (_without_bundle_id(r.content) for r in (viewed, tables))
        assert one_xml[0] != other_xml[0] and one_xml[1] == other_xml[1]
        return
    one, other = orjson.loads(viewed.content), orjson.loads(tables.content)
    if one.get("resourceType") == "Bundle":
        assert one.pop("id") != other.pop("id")
    else:  # an OperationOutcome: its id is its own too
        one.pop("id", None), other.pop("id", None)
    assert one == other


def _without_bundle_id(body: bytes) -> tuple[str | None, bytes]:
    """The Bundle's id, and the rest in canonical XML."""
    root = etree.fromstring(body)
    found = root.find("{http://hl7.org/fhir}id")
    if found is None:
        return None, etree.tostring(root, method="c14n")
    root.remove(found)
    return found.get("value"), etree.tostring(root, method="c14n")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    template=search_items,
    change=st.sampled_from(["none", "none", "book", "book", "add", "rename"]),
    pick=st.integers(0, 10_000),
    gzip=st.booleans(),
    fmt=st.sampled_from(["json", "json", "xml"]),
)
def test_a_search_answered_again_is_the_tables_answer_after_any_write(
    providers: Providers,
    template: list[tuple[str, str]],
    change: str,
    pick: int,
    gzip: bool,
    fmt: str,
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    items = _concrete(template, now)
    asked = {"accept_encoding": "gzip" if gzip else "identity", "accept": f"application/fhir+{fmt}"}
    first = providers.get(providers.viewed, items, **asked)  # builds the view, keeps it
    shown: Any = (first.status_code,)
    if first.status_code == 200:
        shown = _shown(providers.get(providers.tables, items).json())
    if change != "none":
        providers.run(_change(providers.writer, change, pick, shown, items[0][1]))
    again = providers.get(providers.viewed, items, **asked)
    _same_answer(again, providers.get(providers.tables, items, **asked))


class _Shown:
    """What `_change` aims at: the first answer's resources."""

    def __init__(self, matches: list[dict[str, Any]], includes: list[dict[str, Any]]) -> None:
        self.matches, self.includes = matches, includes


def _shown(bundle: dict[str, Any]) -> _Shown:
    entries = bundle.get("entry", [])
    by_mode = {
        mode: [e["resource"] for e in entries if e["search"]["mode"] == mode]
        for mode in ("match", "include")
    }
    return _Shown(by_mode["match"], by_mode["include"])


def _free(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*items, ("status", "free"), ("_include", "Slot:schedule")]


def test_a_repeated_search_is_answered_again_until_a_booking_moves_the_view(
    providers: Providers,
) -> None:
    items = _free(service_search(SERVICE))
    first = providers.get(providers.viewed, items)
    assert first.status_code == 200 and providers.reused == 0
    again = providers.get(providers.viewed, items)
    assert providers.reused == 1  # answered again whole
    _same_answer(again, first)
    slot = next(e["resource"] for e in first.json()["entry"] if e["search"]["mode"] == "match")
    booked = providers.run(
        providers.viewed.post(
            "/fhir/Appointment",
            content=orjson.dumps(appointment(slot)),
            headers=FHIR_JSON,
        )
    )
    assert booked.status_code == 201, booked.text
    after = providers.get(providers.viewed, items)
    assert providers.reused == 1  # the booking moved the view's epoch: built anew
    ids = {e["resource"]["id"] for e in after.json()["entry"]}
    assert slot["id"] not in ids
    _same_answer(after, providers.get(providers.tables, items))
    providers.get(providers.viewed, items)
    assert providers.reused == 2  # and the new answer is answered again


def test_another_format_or_encoding_is_not_answered_with_a_kept_answer(
    providers: Providers,
) -> None:
    items = _free(service_search(SERVICE))
    plain = providers.get(providers.viewed, items, accept_encoding="identity")
    gzipped = providers.get(providers.viewed, items, accept_encoding="gzip")
    xml = providers.get(providers.viewed, items, accept="application/fhir+xml")
    assert providers.reused == 0
    assert "content-encoding" not in plain.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert xml.headers["content-type"].startswith("application/fhir+xml")
    _same_answer(providers.get(providers.viewed, items, accept_encoding="gzip"), gzipped)
    _same_answer(providers.get(providers.viewed, items, accept="application/fhir+xml"), xml)
    _same_answer(providers.get(providers.viewed, items, accept_encoding="identity"), plain)
    assert providers.reused == 3


def test_a_kept_answer_is_not_given_once_its_window_has_passed(providers: Providers) -> None:
    now = datetime.now(UTC)
    upper = (now + timedelta(seconds=2)).isoformat()
    items = [
        ("start", f"ge{(now - timedelta(hours=2)).isoformat()}"),
        ("start", f"le{upper}"),
        ("schedule.actor:healthcareservice", SERVICE),
        ("status", "free"),
    ]
    assert providers.get(providers.viewed, items).status_code == 200
    time.sleep(max(0.0, (now + timedelta(seconds=2.2) - datetime.now(UTC)).total_seconds()))
    late = providers.get(providers.viewed, items)
    assert late.status_code == 400 and "past" in late.text
    assert providers.reused == 0


def test_a_kept_answer_with_the_store_gone_is_a_503_not_a_500(pg_url: str) -> None:
    """The epochs cannot be read: the search is answered as any search is then (503)."""
    seed_db(pg_url, days=2)
    providers = Providers(pg_url)
    name = pg_url.rsplit("/", 1)[1]
    admin = psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        items = _free(service_search(SERVICE))
        assert providers.get(providers.viewed, items).status_code == 200
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        gone = providers.get(providers.viewed, items)
        assert gone.status_code == 503, gone.text
        assert gone.json()["resourceType"] == "OperationOutcome"
        assert providers.reused == 0
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        back = [providers.get(providers.viewed, items) for _ in range(3)]
        assert [r.status_code for r in back] == [200, 200, 200]  # the pools reconnect
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        providers.close()
