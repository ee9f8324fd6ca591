"""The SSP over real HTTPS with TLS mutual authentication: every malformed, unauthenticated or
unauthorised request is refused (the guide's statuses) and never reaches the provider; good
ones are relayed unchanged but for hop-by-hop headers, and streamed both ways."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from uec_booking.asgi_server import ThreadedServer
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.spine.ssp import create_app, upstream_context
from uec_booking.tls import CertificateAuthority, Credential, ServerTLS, client_context

FROM, TO = "200000000201", "200000000101"
CONSUMER_FQDN = "nhs111.x26cn1.sandbox.nhs.uk"
PREFIX = "urn:nhs:names:services:careconnect:fhir:rest:"
BIG = b"x" * (10 << 20)  # 10 MB: the guide sets no payload limit


@dataclass
class Upstream:
    seen: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def any_request(request: Request) -> Response:
            digest, size = hashlib.sha256(), 0
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
            self.seen.append(
                {
                    **dict(request.headers),
                    "_method": request.method,
                    "_raw_path": request.scope["raw_path"].decode(),
                    "_query": request.url.query,
                    "_size": str(size),
                    "_sha256": digest.hexdigest(),
                }
            )
            if request.url.path.endswith("/slow"):
                await asyncio.sleep(3)
            if request.url.path.endswith("/Slot/big"):

                async def chunks() -> object:
                    for start in range(0, len(BIG), 1 << 16):
                        yield BIG[start : start + (1 << 16)]

                return StreamingResponse(chunks(), media_type="application/fhir+json")  # type: ignore[arg-type]
            return Response(
                json.dumps({"resourceType": "Bundle", "ok": True}),
                status_code=200,
                media_type="application/fhir+json",
                headers={
                    "X-Upstream": "yes",
                    "X-Vendor-Trace": "t-1",
                    "Connection": "X-Hop-Secret",
                    "X-Hop-Secret": "must-not-reach-the-consumer",
                    "Server": "provider/1.0",
                },
            )

        methods = ["GET", "POST", "PUT"]
        return Starlette(routes=[Route("/{p:path}", any_request, methods=methods)])


class Registry:
    def __init__(
        self, endpoints: dict[tuple[str, Interaction], list[str]], fqdns: dict[str, set[str]]
    ) -> None:
        self.table, self.fqdn_table = endpoints, fqdns

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]:
        return self.table.get((asid, interaction), [])

    async def fqdns(self, asid: str) -> set[str]:
        return self.fqdn_table.get(asid, set())


@dataclass
class Setup:
    ssp: str
    provider: str
    upstream: Upstream
    ca: CertificateAuthority
    consumer: Credential
    registry: Registry
    tmp: Path

    def client(self, cred: Credential | None = None, **kwargs: object) -> httpx.Client:
        cred = self.consumer if cred is None else cred
        context = client_context(ca_file=self.ca.cert, cert_file=cred.cert, key_file=cred.key)
        return httpx.Client(verify=context, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("ssp-tls")
    ca = CertificateAuthority.create(tmp / "ca")
    ssp_cred = ca.issue("ssp", "ssp.sandbox.nhs.uk")
    provider_cred = ca.issue("provider", "provider.x26pr1.sandbox.nhs.uk")
    consumer = ca.issue("consumer", CONSUMER_FQDN)
    upstream = Upstream()
    # The provider requires a client certificate from the CA: it sees only the SSP.
    provider_tls = ServerTLS(provider_cred.cert, provider_cred.key, client_ca=ca.cert)
    with ThreadedServer(upstream.app(), tls=provider_tls) as provider_server:
        provider = f"{provider_server.url}/fhir"
        table = {(TO, i): [provider + "/"] for i in Interaction}
        table[(TO, Interaction.SEARCH_APPOINTMENT)] = []  # registered for everything else
        registry = Registry(table, {FROM: {CONSUMER_FQDN}})
        app = create_app(registry=registry, timeout=1.5)
        upstream_context(
            app, client_context(ca_file=ca.cert, cert_file=ssp_cred.cert, key_file=ssp_cred.key)
        )
        ssp_tls = ServerTLS(ssp_cred.cert, ssp_cred.key, client_ca=ca.cert, require_client=False)
        with ThreadedServer(app, tls=ssp_tls, relay=True) as ssp:
            yield Setup(ssp.url, provider, upstream, ca, consumer, registry, tmp)


def headers(interaction: str = "read:slot", **changes: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": FROM,
        "Ssp-To": TO,
        "Ssp-InteractionID": PREFIX + interaction,
        "Authorization": token_for(FROM),
        "X-Request-ID": "req-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token_for(asid: str | None, **claims: object) -> str:
    body = {"asid": asid, **claims} if asid else claims
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"Bearer eyJhbGciOiJSUzI1NiJ9.{payload}.sig"


def test_forwards_unchanged_over_tls_ma(setup: Setup) -> None:
    url = f"{setup.ssp}/{setup.provider}/Slot?status=free&start=le2030-01-01"
    with setup.client() as client:
        before = len(setup.upstream.seen)
        response = client.get(
            url,
            headers={
                **headers(),
                "X-Vendor-Thing": "kept",  # an unknown end-to-end header
                "Connection": "keep-alive, X-Drop-Me",
                "X-Drop-Me": "hop-by-hop, named in Connection",
                "Forwarded": "for=192.0.2.1",
            },
        )
        assert response.status_code == 200, response.text
        seen = setup.upstream.seen[before]
        assert seen["x-vendor-thing"] == "kept" and seen["x-request-id"] == "req-1"
        assert "x-drop-me" not in seen
        assert seen["authorization"] == token_for(FROM) and seen["ssp-from"] == FROM
        assert seen["_raw_path"] == "/fhir/Slot"
        assert seen["_query"] == "status=free&start=le2030-01-01"
        forwarded = seen["forwarded"]
        assert forwarded.startswith("for=192.0.2.1, for=127.0.0.1;proto=https;host=")
        # The answer's end-to-end headers unchanged; Connection-named ones dropped.
        assert response.headers["x-upstream"] == "yes"
        assert response.headers["x-vendor-trace"] == "t-1"
        # Both Server headers the provider's server sent, and none of the SSP's own.
        assert response.headers.get_list("server") == ["uvicorn", "provider/1.0"]
        assert "x-hop-secret" not in response.headers
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert client.get(url, headers=headers("search:slot")).status_code == 200


def test_ten_megabytes_both_ways(setup: Setup) -> None:
    with setup.client() as client:
        big = client.get(f"{setup.ssp}/{setup.provider}/Slot/big", headers=headers())
        assert big.status_code == 200 and big.content == BIG
        posted = client.post(
            f"{setup.ssp}/{setup.provider}/Appointment",
            content=BIG,
            headers={**headers("create:appointment"), "Content-Type": "application/fhir+json"},
        )
        assert posted.status_code == 200, posted.text
        seen = setup.upstream.seen[-1]
        assert seen["_size"] == str(len(BIG))
        assert seen["_sha256"] == hashlib.sha256(BIG).hexdigest()

        def chunked() -> Iterator[bytes]:  # no Content-Length: streamed on chunked
            yield b'{"resourceType":'
            yield b'"Appointment"}'

        streamed = client.post(
            f"{setup.ssp}/{setup.provider}/Appointment",
            content=chunked(),
            headers=headers("create:appointment"),
        )
        assert streamed.status_code == 200
        assert setup.upstream.seen[-1]["_size"] == str(len(b'{"resourceType":"Appointment"}'))


def test_no_client_certificate_is_496(setup: Setup) -> None:
    before = len(setup.upstream.seen)
    with httpx.Client(verify=client_context(ca_file=setup.ca.cert)) as client:
        response = client.get(f"{setup.ssp}/{setup.provider}/Slot", headers=headers())
    assert response.status_code == 496
    assert response.json()["issue"][0]["code"] == "security"
    assert len(setup.upstream.seen) == before


def test_fqdn_not_registered_for_ssp_from_is_495(setup: Setup) -> None:
    other = setup.ca.issue("other", "someone-else.sandbox.nhs.uk")
    before = len(setup.upstream.seen)
    with setup.client(other) as client:
        response = client.get(f"{setup.ssp}/{setup.provider}/Slot", headers=headers())
        assert response.status_code == 495
        # The registered certificate, claiming another system's ASID, is refused too.
        lying = client.get(
            f"{setup.ssp}/{setup.provider}/Slot",
            headers=headers(**{"Ssp-From": "200000000301"}, Authorization=None),
        )
        assert lying.status_code == 495
    assert len(setup.upstream.seen) == before


@pytest.mark.parametrize("kind", ["untrusted", "expired"])
def test_untrusted_or_expired_client_certificate_fails_the_handshake(
    setup: Setup, kind: str
) -> None:
    if kind == "untrusted":
        stranger = CertificateAuthority.create(setup.tmp / "stranger-ca")
        cred = stranger.issue("stranger", CONSUMER_FQDN)
    else:
        cred = setup.ca.issue("expired", CONSUMER_FQDN, expired=True)
    before = len(setup.upstream.seen)
    errors = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
    with pytest.raises(errors) as err, setup.client(cred) as client:
        client.get(f"{setup.ssp}/{setup.provider}/Slot", headers=headers())
    # asyncio's TLS server hangs up without an alert: no HTTP answer, nothing relayed.
    assert "eof" in str(err.value).lower() or "disconnected" in str(err.value).lower()
    assert len(setup.upstream.seen) == before


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
        ({"Authorization": "Bearer not-a-jwt"}, 400),
        # A 1500-deep JSON payload: refused as no JWT, not a RecursionError (issue 13 #10).
        (
            {
                "Authorization": "Bearer e30."
                + base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode().rstrip("=")
                + ".x"
            },
            400,
        ),
    ],
)
def test_header_matrix_never_reaches_the_provider(
    setup: Setup, change: dict[str, str | None], status: int
) -> None:
    before = len(setup.upstream.seen)
    with setup.client() as client:
        response = client.get(
            f"{setup.ssp}/{setup.provider}/Slot?status=free", headers=headers(**change)
        )
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert len(setup.upstream.seen) == before, "a refused request reached the provider"


def test_duplicated_ssp_headers_are_refused(setup: Setup) -> None:
    before = len(setup.upstream.seen)
    with setup.client() as client:
        for name, second in (
            ("Ssp-From", "200000000301"),
            ("Ssp-To", TO),
            ("Ssp-InteractionID", PREFIX + "read:slot"),
        ):
            request = client.build_request(
                "GET", f"{setup.ssp}/{setup.provider}/Slot", headers=headers()
            )
            request.headers = httpx.Headers([*request.headers.multi_items(), (name, second)])
            response = client.send(request)
            assert response.status_code == 400, (name, response.text)
    assert len(setup.upstream.seen) == before


def test_target_path_is_relayed_verbatim_or_refused(setup: Setup) -> None:
    with setup.client() as client:
        for path in ("Slot/a%20b", "Slot/%252e%252e"):
            response = client.get(f"{setup.ssp}/{setup.provider}/{path}", headers=headers())
            assert response.status_code == 200, (path, response.text)
            assert setup.upstream.seen[-1]["_raw_path"] == f"/fhir/{path}"
        before = len(setup.upstream.seen)
        for path in ("Slot/a%0Ab", "Slot/a%00", "Slot/%2e%2e/%2e%2e/admin"):
            response = client.get(f"{setup.ssp}/{setup.provider}/{path}", headers=headers())
            assert response.status_code == 400, (path, response.text)
        assert len(setup.upstream.seen) == before


def test_target_and_interaction_rules(setup: Setup) -> None:
    before = len(setup.upstream.seen)
    with setup.client() as client:
        elsewhere = client.get(
            f"{setup.ssp}/https://127.0.0.1:{free_port()}/fhir/Slot", headers=headers()
        )
        assert elsewhere.status_code == 403
        assert client.get(f"{setup.ssp}/just/a/path", headers=headers()).status_code == 400
        unregistered = client.get(
            f"{setup.ssp}/{setup.provider}/Appointment?patient:identifier=x",
            headers=headers("search:appointment"),
        )
        assert unregistered.status_code == 403
        wrong_method = client.put(
            f"{setup.ssp}/{setup.provider}/Slot/1", headers=headers("read:slot")
        )
        assert wrong_method.status_code == 403
    assert len(setup.upstream.seen) == before


def test_upstream_timeout_and_down(setup: Setup) -> None:
    with setup.client() as client:
        slow = client.get(f"{setup.ssp}/{setup.provider}/Slot/slow", headers=headers(), timeout=10)
    assert slow.status_code == 504 and slow.json()["issue"][0]["code"] == "timeout"
    port = free_port()
    table = {(TO, Interaction.READ_SLOT): [f"http://127.0.0.1:{port}/fhir"]}
    with ThreadedServer(create_app(registry=Registry(table, {}), mutual_tls=False)) as ssp:
        down = httpx.get(f"{ssp.url}/http://127.0.0.1:{port}/fhir/Slot", headers=headers())
    assert down.status_code == 502


def test_plain_mode_never_skips_the_ssp_from_check(setup: Setup) -> None:
    """Without TLS-MA the token is the only evidence: one naming no ASID is refused."""
    upstream = Upstream()
    with ThreadedServer(upstream.app()) as provider_server:
        provider = f"{provider_server.url}/fhir"
        registry = Registry({(TO, Interaction.READ_SLOT): [provider]}, {})
        with ThreadedServer(create_app(registry=registry, mutual_tls=False)) as ssp:
            url = f"{ssp.url}/{provider}/Slot"
            no_asid = httpx.get(url, headers=headers(Authorization=token_for(None, sub="x")))
            assert no_asid.status_code == 403
            assert httpx.get(url, headers=headers()).status_code == 200
    assert len(upstream.seen) == 1


def test_over_tls_ma_the_certificate_checks_ssp_from_when_the_token_names_no_asid(
    setup: Setup,
) -> None:
    """A token naming no ASID leaves the certificate as the evidence of the sender: a system
    whose certificate SDS registers for Ssp-From is relayed, any other is refused; and two
    Authorization headers are refused before either is read."""
    url = f"{setup.ssp}/{setup.provider}/Slot"
    no_asid = token_for(None, sub="x")
    before = len(setup.upstream.seen)
    with setup.client(setup.ca.issue("other-no-asid", "someone-else.sandbox.nhs.uk")) as other:
        assert other.get(url, headers=headers(Authorization=no_asid)).status_code == 495
    with setup.client() as client:
        request = client.build_request("GET", url, headers=headers())
        request.headers = httpx.Headers(
            [*request.headers.multi_items(), ("Authorization", token_for("200000000301"))]
        )
        doubled = client.send(request)
        assert doubled.status_code == 400, doubled.text
        assert len(setup.upstream.seen) == before
        relayed = client.get(url, headers=headers(Authorization=no_asid))
        assert relayed.status_code == 200, relayed.text
    assert len(setup.upstream.seen) == before + 1


def test_the_ssp_verifies_the_provider_certificate(setup: Setup) -> None:
    """A provider whose certificate is not from Spine's CA is a 502, never trusted."""
    stranger = CertificateAuthority.create(setup.tmp / "provider-stranger")
    cred = stranger.issue("impostor", "provider.x26pr1.sandbox.nhs.uk")
    upstream = Upstream()
    with ThreadedServer(upstream.app(), tls=ServerTLS(cred.cert, cred.key)) as impostor:
        provider = f"{impostor.url}/fhir"
        setup.registry.table[(TO, Interaction.READ_METADATA)] = [provider]
        try:
            with setup.client() as client:
                response = client.get(
                    f"{setup.ssp}/{provider}/metadata", headers=headers("read:metadata")
                )
        finally:
            setup.registry.table[(TO, Interaction.READ_METADATA)] = [setup.provider + "/"]
    assert response.status_code == 502
    assert upstream.seen == []
    assert isinstance(ssl.SSLContext, type)
