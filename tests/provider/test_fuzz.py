"""Property-based fuzzing over real HTTP: whatever a client sends, the answer is a 2xx or a
4xx with an OperationOutcome, never a 5xx, and a refused booking writes nothing."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.provider.conftest import Provider, seed_db
from tests.provider.helpers import FHIR_JSON, appointment, later, search_free
from uec_booking.asgi_server import ThreadedServer
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    db_url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.sqlite3'}"
    seed_db(db_url, days=2)
    app = create_app(ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF))
    with ThreadedServer(app) as server, httpx.Client(timeout=30) as client:
        yield Provider(f"{server.url}/fhir", db_url, client)


def assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "fhir" in response.headers["content-type"]
        if "json" in response.headers["content-type"]:
            assert response.json()["resourceType"] == "OperationOutcome"


KEYS = st.sampled_from(
    [
        "start",
        "status",
        "schedule.actor:healthcareservice",
        "schedule.actor:HealthcareService",
        "service",
        "schedule",
        "_include",
        "_include:recurse",
        "_count",
        "_format",
        "_sort",
        "x",
    ]
)
DATEISH = st.builds(
    lambda p, d: p + d,
    st.sampled_from(["", "ge", "le", "lt", "gt", "eq", "sa", "ap", "zz"]),
    st.sampled_from(
        [
            "2026-11-24",
            later(3),
            "2026-11-24T10:00",
            "2026",
            "2026-02-30",
            "'; DROP TABLE slot;--",
            "9" * 40,
        ]
    ),
)
VALUES = st.one_of(
    DATEISH,
    st.text(max_size=40),
    st.sampled_from(["free", "busy", "Slot:schedule", "0", "-1", "xml"]),
)


@FUZZ
@given(st.lists(st.tuples(KEYS, VALUES), max_size=8), st.sampled_from(["", "handling=strict"]))
def test_slot_search_never_5xx(
    fuzz_provider: Provider, params: list[tuple[str, str]], prefer: str
) -> None:
    query = "&".join(f"{quote(k, safe=':')}={quote(v, safe='')}" for k, v in params)
    response = fuzz_provider.client.get(
        f"{fuzz_provider.url}/Slot?{query}", headers={"Prefer": prefer} if prefer else {}
    )
    assert_clean(response)


JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "status",
    "start",
    "end",
    "slot",
    "participant",
    "contained",
    "supportingInformation",
    "id",
    "meta",
    "created",
    "description",
]


@FUZZ
@given(
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4),
    st.lists(st.sampled_from(FIELDS), max_size=3),
)
def test_appointment_bodies_never_5xx_and_never_half_write(
    fuzz_provider: Provider, overrides: dict[str, Any], dropped: list[str]
) -> None:
    slots = search_free(fuzz_provider.client, fuzz_provider.url)
    body = appointment(slots[0])
    for key in dropped:
        body.pop(key, None)
    body.update(overrides)
    response = fuzz_provider.client.post(
        f"{fuzz_provider.url}/Appointment", content=json.dumps(body), headers=FHIR_JSON
    )
    assert_clean(response)
    slot_status = fuzz_provider.client.get(f"{fuzz_provider.url}/Slot/{slots[0]['id']}").json()[
        "status"
    ]
    if response.status_code == 201:
        assert slot_status == "busy"
    else:
        assert slot_status == "free", "a refused booking must not change the slot"


@FUZZ
@given(
    st.binary(max_size=300),
    st.sampled_from(["application/fhir+json", "application/fhir+xml", "text/plain", ""]),
)
def test_garbage_bodies(fuzz_provider: Provider, raw: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert_clean(
        fuzz_provider.client.post(f"{fuzz_provider.url}/Appointment", content=raw, headers=headers)
    )


@FUZZ
@given(st.text(alphabet=string.printable, max_size=200))
def test_xml_text_bodies(fuzz_provider: Provider, text: str) -> None:
    body = f"<Appointment xmlns='http://hl7.org/fhir'>{text}</Appointment>".encode()
    assert_clean(
        fuzz_provider.client.post(
            f"{fuzz_provider.url}/Appointment",
            content=body,
            headers={"Content-Type": "application/fhir+xml"},
        )
    )


def test_huge_and_deep_bodies(fuzz_provider: Provider) -> None:
    c, url = fuzz_provider.client, f"{fuzz_provider.url}/Appointment"
    deep = b'{"resourceType":"Appointment","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_clean(c.post(url, content=deep, headers=FHIR_JSON))
    huge = orjson.dumps({"resourceType": "Appointment", "description": "x" * (3 << 20)})
    response = c.post(url, content=huge, headers=FHIR_JSON)
    assert response.status_code == 413
    deep_xml = (
        b"<Appointment xmlns='http://hl7.org/fhir'>"
        + b"<a>" * 3000
        + b"</a>" * 3000
        + b"</Appointment>"
    )
    assert_clean(c.post(url, content=deep_xml, headers={"Content-Type": "application/fhir+xml"}))
    big_header = c.get(f"{fuzz_provider.url}/metadata", headers={"X-Junk": "y" * 60000})
    assert big_header.status_code < 500
