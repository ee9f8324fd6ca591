"""`uec-booking check-config`: check a consumer configuration before its first live use.

Each national service the configuration names is tried the way the booking flow will use
it, and the outcome is said in plain sentences: every endpoint reachable; the DoS WSDL the
v1.5 PathWayService (SOAP 1.2, its operations and `serviceVersion` header); SDS answering
under its base; a provider token issued (or, in interim mode, the token the consumer would
build valid by the standard's rules); the NHS API platform issuing a token for PDS and PDS
answering a Patient read with it.

    uec-booking check-config --config consumer.toml --provider https://provider.example/fhir
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import typer
from lxml import etree

from uec_booking.cli_options import options
from uec_booking.consumer.config import ConsumerAuthMode, ConsumerConfig, load_config
from uec_booking.consumer.errors import ConfigError, ConsumerError
from uec_booking.consumer.sds import SdsClient
from uec_booking.consumer.wiring import (  # as the flow wires them
    interim_tokens,
    pds_tokens,
    sds_client,
    token_source,
)
from uec_booking.fhir.errors import FhirError
from uec_booking.fhir.interactions import Interaction
from uec_booking.tls_http import tls_transport
from uec_booking.tokens_interim import check_interim

DOS_NS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
DOS_OPERATIONS = ("CheckCapacitySummary", "ServiceDetailsById")
PDS_TEST_PATIENT = "9000000009"  # the PDS sandbox's and integration environment's test patient


@dataclass
class Finding:
    service: str
    ok: bool
    sentence: str
    warning: bool = False

    def line(self) -> str:
        mark = "!" if self.warning else ("ok" if self.ok else "FAIL")
        return f"[{mark}] {self.service}: {self.sentence}"


def _http_error(what: str, url: str, exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"{what} at {url} cannot be reached (nothing answers there: check the URL and the network route)."
    if isinstance(exc, httpx.TimeoutException):
        return f"{what} at {url} did not answer in time."
    return f"{what} at {url} failed: {exc}."


async def check_dos(config: ConsumerConfig, http: httpx.AsyncClient) -> list[Finding]:
    try:
        response = await http.get(config.dos_wsdl)
    except httpx.HTTPError as exc:
        return [Finding("DoS", False, _http_error("The DoS WSDL", config.dos_wsdl, exc))]
    if response.status_code != 200:
        return [
            Finding(
                "DoS",
                False,
                f"The DoS WSDL at {config.dos_wsdl} answered HTTP {response.status_code}.",
            )
        ]
    # No entities, DTDs or network: a WSDL from anywhere is parsed safely.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(response.content, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        return [Finding("DoS", False, f"{config.dos_wsdl} is not a WSDL document ({exc}).")]
    return _dos_version(root, config.dos_wsdl)


def _dos_version(root: Any, url: str) -> list[Finding]:
    """What makes a WSDL the published v1.5 one: fatal when the service or its operations
    are missing, a warning where it differs from the published details."""
    w = f"{{{WSDL_NS}}}"
    if root.tag != f"{w}definitions" or root.get("targetNamespace") != DOS_NS:
        return [
            Finding("DoS", False, f"{url} is not the DoS PathWayService WSDL (namespace {DOS_NS}).")
        ]
    service = root.find(f"{w}service[@name='PathWayService']")
    operations = {op.get("name") for op in root.iter(f"{w}operation")}
    missing = [op for op in DOS_OPERATIONS if op not in operations]
    if service is None or missing:
        lacking = ", ".join(missing) or "the PathWayService service"
        return [Finding("DoS", False, f"The WSDL at {url} lacks {lacking}: it is not DoS v1.5.")]
    if root.find(f".//{{{SOAP12_NS}}}binding") is None:
        return [
            Finding(
                "DoS", False, f"The WSDL at {url} has no SOAP 1.2 binding; DoS v1.5 is SOAP 1.2."
            )
        ]
    findings = [
        Finding(
            "DoS",
            True,
            f"The WSDL at {url} is the PathWayService with CheckCapacitySummary and "
            "ServiceDetailsById over SOAP 1.2 (v1.5).",
        )
    ]
    differences = []
    if service.find(f"{w}port[@name='PathWayServiceSoap12']") is None:
        differences.append("its port is not named PathWayServiceSoap12")
    for op in root.iter(f"{{{SOAP12_NS}}}operation"):
        action = op.get("soapAction") or ""
        if not action.startswith(f"{DOS_NS}/"):
            differences.append(f"soapAction {action!r} is not under {DOS_NS}/")
    header = root.find(f".//{{{XSD_NS}}}element[@name='serviceVersion']")
    if header is None or not (header.get("type") or "").endswith(":string"):
        differences.append("its serviceVersion header is not the published simple string")
    if differences:
        findings.append(
            Finding(
                "DoS",
                True,
                "It differs from the published v1.5 WSDL: " + "; ".join(differences) + ".",
                warning=True,
            )
        )
    return findings


async def check_sds(config: ConsumerConfig) -> Finding:
    client = sds_client(config)
    if not isinstance(client, SdsClient):
        return Finding("SDS", True, "SDS is looked up through its FHIR API (UEC_SDS_MODE=fhir).")
    try:
        found = await client.has_base()
    except ConsumerError as exc:
        return Finding("SDS", False, f"SDS at {config.sds_url} cannot be searched ({exc}).")
    if not found:
        return Finding(
            "SDS",
            False,
            f"SDS at {config.sds_url} has no entry {config.sds_base}: check UEC_SDS_BASE.",
        )
    return Finding(
        "SDS", True, f"SDS at {config.sds_url} answers searches under {config.sds_base}."
    )


async def check_ssp(config: ConsumerConfig, http: httpx.AsyncClient) -> Finding:
    if not config.ssp_url:
        return Finding(
            "SSP",
            False,
            "No SSP is configured (UEC_SSP_URL): live providers are reached only through it.",
        )
    try:
        response = await http.get(config.ssp_url)
    except httpx.HTTPError as exc:
        return Finding("SSP", False, _http_error("The SSP", config.ssp_url, exc))
    return Finding(
        "SSP", True, f"The SSP at {config.ssp_url} answers (HTTP {response.status_code})."
    )


async def check_provider_token(config: ConsumerConfig, provider: str | None) -> Finding:
    if config.auth_mode is ConsumerAuthMode.INTERIM:
        audience = provider or "https://provider.example/fhir"
        tokens = interim_tokens(config)
        try:
            token = await tokens.token(audience=audience, interaction=Interaction.READ_SLOT)
            check_interim(token, audience=audience, leeway=30)
        except (FhirError, KeyError, TypeError) as exc:
            return Finding(
                "Tokens", False, f"The interim token this configuration builds is not valid: {exc}."
            )
        return Finding(
            "Tokens",
            True,
            f"Interim mode: the consumer builds unsigned tokens (iss {config.interim_issuer}, "
            f"ODS {config.consumer_ods}) that meet the standard's rules.",
        )
    if not (config.auth_token_url and config.client_id and config.client_secret):
        return Finding(
            "Tokens",
            False,
            "Signed mode needs UEC_AUTH_TOKEN_URL, UEC_CLIENT_ID and UEC_CLIENT_SECRET.",
        )
    if not provider:
        return Finding(
            "Tokens",
            True,
            "No provider given (--provider): a provider token was not requested.",
            warning=True,
        )
    source = token_source(config)
    try:
        await source.token(audience=provider)
    except ConsumerError as exc:
        return Finding("Tokens", False, f"No token for {provider}: {exc}.")
    return Finding("Tokens", True, f"The authentication service issued a token for {provider}.")


async def check_pds(config: ConsumerConfig, nhs_number: str) -> list[Finding]:
    findings: list[Finding] = []
    try:
        platform = pds_tokens(config)
    except ConfigError as exc:
        return [Finding("PDS", False, str(exc))]
    headers = {"Accept": "application/fhir+json", "X-Request-ID": str(uuid.uuid4())}
    if platform is None:
        findings.append(
            Finding(
                "PDS",
                True,
                "No NHS API platform application is configured (UEC_PDS_API_KEY …): PDS is "
                "called without a token, which only its open sandbox accepts.",
                warning=True,
            )
        )
    else:
        try:
            headers["Authorization"] = f"Bearer {await platform.token()}"
        except ConsumerError as exc:
            return [Finding("PDS", False, f"The NHS API platform issued no token: {exc}.")]
        findings.append(
            Finding("PDS", True, f"The NHS API platform at {platform.token_url} issued a token.")
        )
    url = f"{config.pds_url.rstrip('/')}/Patient/{nhs_number}"
    try:
        transport = tls_transport(config.tls_context("PDS"), service="PDS")
        async with httpx.AsyncClient(timeout=config.timeout, transport=transport) as http:
            response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return [*findings, Finding("PDS", False, _http_error("PDS", config.pds_url, exc))]
    if response.status_code in (200, 404):
        said = "found" if response.status_code == 200 else "answered that it has no"
        return [
            *findings,
            Finding("PDS", True, f"PDS at {config.pds_url} {said} patient {nhs_number}."),
        ]
    code = _spine_code(response)
    hint = (
        " The token was refused: check the API key, that the JWKS with kid "
        f"{config.pds_kid!r} is registered, and that the application is subscribed to PDS."
        if response.status_code in (401, 403)
        else ""
    )
    return [
        *findings,
        Finding(
            "PDS",
            False,
            f"PDS at {config.pds_url} answered HTTP {response.status_code} {code}.{hint}",
        ),
    ]


def _spine_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["issue"][0]["details"]["coding"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


async def check(config: ConsumerConfig, *, provider: str | None, nhs_number: str) -> list[Finding]:
    ssp_transport = tls_transport(config.tls_context("the SSP"), service="the SSP")
    async with (
        httpx.AsyncClient(timeout=config.timeout) as http,
        httpx.AsyncClient(timeout=config.timeout, transport=ssp_transport) as ssp_http,
    ):
        results = await asyncio.gather(
            check_dos(config, http),
            check_sds(config),
            check_ssp(config, ssp_http),
            check_provider_token(config, provider),
            check_pds(config, nhs_number),
        )
    findings: list[Finding] = []
    for result in results:
        findings.extend(result if isinstance(result, list) else [result])
    return findings


def _manifest_provider(path: Path | None) -> str | None:
    if path is None or not str(path).endswith(".json"):
        return None
    try:
        url = json.loads(path.read_text(encoding="utf-8")).get("provider", {}).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) else None


@options("check-config", nhs_number=PDS_TEST_PATIENT)
def check_config(
    config: Path | None,
    provider: str | None,
    nhs_number: str,
) -> None:
    """Check a configuration before first use: every service reachable, the DoS WSDL v1.5,
    tokens issued, PDS answering. Exit 0 only when nothing failed."""
    try:
        settings = load_config(config)
    except (ValueError, OSError, ConsumerError) as exc:
        typer.echo(f"The configuration cannot be read: {exc}", err=True)
        raise typer.Exit(2) from exc
    target = provider or _manifest_provider(config)
    if target and urlsplit(target).scheme not in ("http", "https"):
        typer.echo(f"--provider {target!r} is not an http(s) URL.", err=True)
        raise typer.Exit(2)
    findings = asyncio.run(check(settings, provider=target, nhs_number=nhs_number))
    for finding in findings:
        typer.echo(finding.line())
    failed = [f for f in findings if not f.ok]
    typer.echo(
        f"{len(failed)} problem(s) found." if failed else "The configuration is ready for use."
    )
    raise typer.Exit(1 if failed else 0)
