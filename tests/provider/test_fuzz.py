"""Property-based fuzzing over real HTTP, on both stores: whatever a client sends (query
strings, ids, headers, JSON and XML bodies), the answer is a 2xx or a 4xx with an
OperationOutcome, never a 5xx, and a refused booking writes nothing.

Bounded for `make test` (UEC_FUZZ_EXAMPLES examples per test and store, 60 by default);
`make soak` runs it long and prints how many requests each store answered.
"""

from __future__ import annotations

import json
import os
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
from tests.provider.helpers import FHIR_JSON, FHIR_XML, appointment, later, search_free, tkw_body
from tests.support import PG_UNAVAILABLE, fresh_pg_database
from uec_booking.asgi_server import ThreadedServer
from uec_booking.provider.app import create_app
from uec_booking.provider.settings import AuthMode, ProviderSettings

EXAMPLES = int(os.environ.get("UEC_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    if request.param == "postgresql":
        if PG_UNAVAILABLE:
            pytest.skip(f"PostgreSQL NOT AVAILABLE, PostgreSQL fuzzing skipped: {PG_UNAVAILABLE}")
        with fresh_pg_database() as url:
            yield from _serve(url, "postgresql")
        return
    db_url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.sqlite3'}"
    yield from _serve(db_url, "sqlite")


def _serve(db_url: str, store: str) -> Iterator[Provider]:
    seed_db(db_url, days=2)
    counts = {"requests": 0, "5xx": 0}

    def count(response: httpx.Response) -> None:
        counts["requests"] += 1
        counts["5xx"] += response.status_code >= 500

    app = create_app(ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF))
    with (
        ThreadedServer(app) as server,
        httpx.Client(timeout=30, event_hooks={"response": [count]}) as client,
    ):
        yield Provider(f"{server.url}/fhir", db_url, client)
    # `make soak` reads this line (pytest -s).
    print(f"\nfuzz: {counts['requests']} requests on {store}, {counts['5xx']} x 5xx")
    assert counts["5xx"] == 0


def assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "fhir" in response.headers["content-type"]
        if "json" in response.headers["content-type"]:
            assert response.json()["resourceType"] == "OperationOutcome"
        else:
            assert b"OperationOutcome" in response.content


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
        booked = response.json()
        cancel = fuzz_provider.client.put(
            f"{fuzz_provider.url}/Appointment/{booked['id']}",
            content=json.dumps(dict(booked, status="cancelled")),
            headers={**FHIR_JSON, "If-Match": response.headers["etag"]},
        )
        assert cancel.status_code == 200, cancel.text  # and the slot is free for the next
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


IDS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["%00", "a%00b", "9" * 40, "..", "%2e%2e", "Slot", "-1", "0"]),
    st.binary(max_size=20).map(lambda b: quote(b, safe="")),
)
PATHS = st.sampled_from(
    [
        "Slot/{id}",
        "Appointment/{id}",
        "Appointment/{id}/_history",
        "Appointment/{id}/_history/{id}",
        "Schedule/{id}",
        "Location/{id}",
        "Practitioner/{id}",
        "HealthcareService/{id}",
        "Organization/{id}",
        "Appointment?patient:identifier={id}",
        "Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{id}&start=ge{id}",
    ]
)
HEADER_VALUES = st.one_of(
    # What an HTTP client can send at all: visible ASCII, no padding.
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(
        str.strip
    ),
    st.sampled_from(['W/"1"', 'W/"' + "9" * 5000 + '"', "*", "", "application/fhir+xml", "gzip"]),
)
HEADER_NAMES = st.sampled_from(
    [
        "Accept",
        "If-Match",
        "X-Request-ID",
        "Prefer",
        "Ssp-TraceID",
        "Ssp-From",
        "Accept-Encoding",
        "Content-Encoding",
        "Authorization",
    ]
)


@FUZZ
@given(PATHS, IDS, st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
def test_reads_by_any_id_and_headers_never_5xx(
    fuzz_provider: Provider, path: str, ident: str, headers: dict[str, str]
) -> None:
    url = f"{fuzz_provider.url}/{path.format(id=quote(ident, safe='%'))}"
    assert_clean(fuzz_provider.client.get(url, headers=headers))


XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)


@FUZZ
@given(
    st.sampled_from(["status", "description", "start", "end", "created", "comment", "x"]),
    XML_TEXT,
    st.sampled_from(["booked", "proposed", "cancelled", "bogus"]),
    st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
)
def test_xml_bookings_never_5xx(
    fuzz_provider: Provider, element: str, value: str, status: str, headers: dict[str, str]
) -> None:
    slots = search_free(fuzz_provider.client, fuzz_provider.url)
    body = tkw_body("book_appt.xml", slots[0]).replace(
        b'<status value="booked"/>', f'<status value="{status}"/>'.encode()
    )
    escaped = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    body = body.replace(b"</Appointment>", f'<{element} value="{escaped}"/></Appointment>'.encode())
    response = fuzz_provider.client.post(
        f"{fuzz_provider.url}/Appointment",
        content=body,
        headers={**{k: v for k, v in headers.items() if k != "Content-Encoding"}, **FHIR_XML},
    )
    assert_clean(response)
    if response.status_code == 201:
        booked = response.json() if "json" in response.headers["content-type"] else None
        appointment_id = booked["id"] if booked else response.headers["location"].split("/")[-3]
        read = fuzz_provider.client.get(
            f"{fuzz_provider.url}/Appointment/{appointment_id}",
            headers={"Accept": "application/fhir+json"},
        )
        cancel = fuzz_provider.client.put(
            f"{fuzz_provider.url}/Appointment/{appointment_id}",
            content=json.dumps(dict(read.json(), status="cancelled")),
            headers={**FHIR_JSON, "If-Match": read.headers["etag"]},
        )
        assert cancel.status_code == 200, cancel.text


@FUZZ
@given(
    st.sampled_from(["", "9" * 30, "18446744073709551616", 'W/"x"', "1"]),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=2),
)
def test_cancels_never_5xx(
    fuzz_provider: Provider, if_match: str, overrides: dict[str, Any]
) -> None:
    appointments = fuzz_provider.client.get(
        f"{fuzz_provider.url}/Appointment?patient:identifier=9000000009"
    ).json()
    entries = appointments.get("entry") or []
    target = entries[0]["resource"] if entries else {"id": "none", "status": "booked"}
    body = {**target, "status": "cancelled", **overrides}
    response = fuzz_provider.client.put(
        f"{fuzz_provider.url}/Appointment/{target['id']}",
        content=json.dumps(body),
        headers={**FHIR_JSON, **({"If-Match": if_match} if if_match else {})},
    )
    assert_clean(response)
