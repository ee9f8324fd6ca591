"""The SSP over real HTTP: every malformed or unauthorised request is refused with an
OperationOutcome and never reaches the provider; good ones are forwarded and streamed back."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uec_booking.asgi_server import ThreadedServer
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.spine.ssp import create_app

FROM, TO = "200000000201", "200000000101"
PREFIX = "urn:nhs:names:services:careconnect:fhir:rest:"
BIG = b"x" * (3 << 20)


@dataclass
class Upstream:
    seen: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def any_request(request: Request) -> Response:
            body = await request.body()
            self.seen.append(
                {
                    **dict(request.headers),
                    "_method": request.method,
                    "_path": request.url.path,
                    "_query": request.url.query,
                    "_body": body.decode(),
                }
            )
            if request.url.path.endswith("/slow"):
                await asyncio.sleep(3)
            if request.url.path.endswith("/Slot/big"):
                return Response(BIG, media_type="application/fhir+json")
            return Response(
                json.dumps({"resourceType": "Bundle", "ok": True}),
                status_code=200,
                media_type="application/fhir+json",
                headers={"X-Upstream": "yes"},
            )

        return Starlette(routes=[Route("/{p:path}", any_request, methods=["GET", "POST", "PUT"])])


class Registry:
    def __init__(self, endpoints: dict[tuple[str, Interaction], list[str]]) -> None:
        self.table = endpoints

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]:
        return self.table.get((asid, interaction), [])


@dataclass
class Setup:
    ssp: str
    provider: str
    upstream: Upstream


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    upstream = Upstream()
    with ThreadedServer(upstream.app()) as provider_server:
        provider = f"{provider_server.url}/fhir"
        table = {(TO, i): [provider + "/"] for i in Interaction}
        table[(TO, Interaction.SEARCH_APPOINTMENT)] = []  # registered for everything else
        with ThreadedServer(
            create_app(registry=Registry(table), timeout=1.5, max_body=1 << 20)
        ) as ssp:
            yield Setup(ssp.url, provider, upstream)


def headers(interaction: str = "read:slot", **changes: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": FROM,
        "Ssp-To": TO,
        "Ssp-InteractionID": PREFIX + interaction,
        "Authorization": "Bearer abc",
        "X-Request-ID": "req-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token_for(asid: str) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"asid": asid}).encode()).rstrip(b"=").decode()
    return f"Bearer eyJhbGciOiJSUzI1NiJ9.{claims}.sig"


def test_forwards_and_streams(setup: Setup) -> None:
    before = len(setup.upstream.seen)
    url = f"{setup.ssp}/{setup.provider}/Slot?status=free&start=le2030-01-01"
    response = httpx.get(url, headers=headers())
    assert response.status_code == 200 and response.headers["x-upstream"] == "yes"
    seen = setup.upstream.seen[before]
    assert seen["authorization"] == "Bearer abc" and seen["x-request-id"] == "req-1"
    assert seen["_path"] == "/fhir/Slot" and seen["_query"] == "status=free&start=le2030-01-01"
    assert seen["ssp-from"] == FROM
    search_alias = httpx.get(url, headers=headers("search:slot"))
    assert search_alias.status_code == 200
    big = httpx.get(f"{setup.ssp}/{setup.provider}/Slot/big", headers=headers())
    assert big.status_code == 200 and big.content == BIG
    posted = httpx.post(
        f"{setup.ssp}/{setup.provider}/Appointment",
        content=b'{"a":1}',
        headers={**headers("create:appointment"), "Content-Type": "application/fhir+json"},
    )
    assert posted.status_code == 200 and setup.upstream.seen[-1]["_body"] == '{"a":1}'
    matching_token = httpx.get(url, headers=headers(Authorization=token_for(FROM)))
    assert matching_token.status_code == 200


def test_compression_only_when_the_consumer_asked(setup: Setup) -> None:
    url = f"{setup.ssp}/{setup.provider}/Slot?status=free"
    with httpx.Client() as client:
        plain = client.get(url, headers={**headers(), "Accept-Encoding": "identity"})
    assert plain.status_code == 200 and setup.upstream.seen[-1]["accept-encoding"] == "identity"
    gzip_ok = httpx.get(url, headers={**headers(), "Accept-Encoding": "gzip"})
    assert gzip_ok.status_code == 200 and setup.upstream.seen[-1]["accept-encoding"] == "gzip"
    raw = httpx.Request("GET", url, headers=headers())
    raw.headers.pop("Accept-Encoding", None)  # a client that says nothing about encodings
    with httpx.Client() as client:
        response = client.send(raw)
    assert setup.upstream.seen[-1]["accept-encoding"] == "identity"
    assert response.headers.get_list("date") and len(response.headers.get_list("date")) == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Ssp-TraceID": None}, 400),
        ({"Ssp-TraceID": "not-a-uuid"}, 400),
        ({"Ssp-From": None}, 400),
        ({"Ssp-From": "abc"}, 400),
        ({"Ssp-To": None}, 400),
        ({"Ssp-To": "999999999999"}, 403),  # no endpoint registered for that ASID
        ({"Ssp-InteractionID": None}, 400),
        ({"Ssp-InteractionID": PREFIX + "delete:everything"}, 400),
        ({"Ssp-InteractionID": PREFIX + "create:appointment"}, 403),  # does not fit GET /Slot
        ({"Authorization": token_for("111111111111")}, 403),  # Ssp-From is not the token's ASID
    ],
)
def test_header_matrix_never_reaches_the_provider(
    setup: Setup, change: dict[str, str | None], status: int
) -> None:
    before = len(setup.upstream.seen)
    response = httpx.get(
        f"{setup.ssp}/{setup.provider}/Slot?status=free", headers=headers(**change)
    )
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert len(setup.upstream.seen) == before, "a refused request reached the provider"


def test_target_and_interaction_rules(setup: Setup) -> None:
    before = len(setup.upstream.seen)
    elsewhere = httpx.get(
        f"{setup.ssp}/http://127.0.0.1:{free_port()}/fhir/Slot", headers=headers()
    )
    assert elsewhere.status_code == 403
    not_url = httpx.get(f"{setup.ssp}/just/a/path", headers=headers())
    assert not_url.status_code == 400
    unregistered = httpx.get(
        f"{setup.ssp}/{setup.provider}/Appointment?patient:identifier=x",
        headers=headers("search:appointment"),
    )
    assert unregistered.status_code == 403
    wrong_method = httpx.put(f"{setup.ssp}/{setup.provider}/Slot/1", headers=headers("read:slot"))
    assert wrong_method.status_code == 403
    oversize = httpx.post(
        f"{setup.ssp}/{setup.provider}/Appointment",
        content=b"x" * (2 << 20),
        headers=headers("create:appointment"),
    )
    assert oversize.status_code == 413
    assert len(setup.upstream.seen) == before


def test_upstream_timeout_and_down(setup: Setup) -> None:
    slow = httpx.get(f"{setup.ssp}/{setup.provider}/Slot/slow", headers=headers(), timeout=10)
    assert slow.status_code == 504 and slow.json()["issue"][0]["code"] == "timeout"
    port = free_port()
    table = {(TO, Interaction.READ_SLOT): [f"http://127.0.0.1:{port}/fhir"]}
    with ThreadedServer(create_app(registry=Registry(table))) as ssp:
        down = httpx.get(f"{ssp.url}/http://127.0.0.1:{port}/fhir/Slot", headers=headers())
    assert down.status_code == 502
