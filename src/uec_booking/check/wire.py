"""The checker's side of the wire: requests to the provider under test with the headers the
test kit sends (Ssp-*, X-Request-ID, the token for the interaction), every exchange recorded
on the case it belongs to, and `--dry-run` (the first request of each case is listed, not
sent)."""

from __future__ import annotations

import base64
import gzip
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from lxml import etree

from uec_booking.check.model import CaseResult, Exchange
from uec_booking.consumer.auth import ClientCredentialsTokens, InterimTokens
from uec_booking.consumer.errors import ConsumerError
from uec_booking.fhir.formats import Format, parse_resource
from uec_booking.fhir.interactions import PREFIX, Interaction
from uec_booking.tls_http import tls_transport

# The test kit sends `search:slot` (EB_Common.tstp); the assurance scripts say `read:slot`.
KIT_INTERACTION: dict[Interaction, str] = {
    Interaction.READ_METADATA: Interaction.READ_METADATA.value,
    Interaction.READ_SLOT: PREFIX + "search:slot",
    Interaction.CREATE_APPOINTMENT: Interaction.CREATE_APPOINTMENT.value,
    Interaction.READ_APPOINTMENT: Interaction.READ_APPOINTMENT.value,
    Interaction.UPDATE_APPOINTMENT: Interaction.UPDATE_APPOINTMENT.value,
}
# fs_authentication (interim rule): requested_scope per interaction.
INTERIM_SCOPE: dict[Interaction, str] = {
    Interaction.READ_METADATA: "organization/slot.read",
    Interaction.READ_SLOT: "organization/slot.read",
    Interaction.READ_APPOINTMENT: "patient/appointment.read",
    Interaction.CREATE_APPOINTMENT: "patient/appointment.write",
    Interaction.UPDATE_APPOINTMENT: "patient/appointment.write",
}
JSON = "application/fhir+json"
XML = "application/fhir+xml"


class Planned(Exception):
    """Raised by `send` under --dry-run once the request is recorded."""


class CannotForge(Exception):
    """The token a negative case needs cannot be made in this auth mode."""


class NoToken(Exception):
    """The token service would not give the checker its valid token: nothing can be checked."""


@dataclass
class Target:
    """The provider under test and how to reach it."""

    base_url: str
    service: str  # the DoS id of a HealthcareService with free slots
    auth: str = "interim"  # interim | signed | none
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    limited_client_id: str | None = None  # a client assured for slot search only
    limited_client_secret: str | None = None
    from_asid: str = "200000000201"
    to_asid: str = "200000000101"
    consumer_ods: str = "X26CN1"
    ssp_url: str | None = None
    dry_run: bool = False
    timeout: float = 30.0
    days: int = 3  # the search window the kit's 3-day searches use
    # TLS: the CA that issued the provider's (or SSP's) certificate, and the client
    # certificate to present (Spine: TLS mutual authentication).
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def tls(self) -> ssl.SSLContext | None:
        if not (self.ca_file or self.cert_file):
            return None
        from uec_booking.tls import client_context

        return client_context(
            ca_file=self.ca_file,
            cert_file=self.cert_file,
            key_file=self.key_file,
            verify=True,
            service="the provider under test",
        )

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")


@dataclass
class Response:
    status: int
    headers: httpx.Headers
    content: bytes

    def header(self, name: str) -> str | None:
        value: str | None = self.headers.get(name)
        return value

    @property
    def media(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def resource(self) -> dict[str, Any] | None:
        """The body as FHIR JSON (XML read through fhir.resources), or None if it is not a
        resource."""
        try:
            if "xml" in self.media:
                root = etree.fromstring(self.content, parser=etree.XMLParser(no_network=True))
                name = etree.QName(root).localname
                return parse_resource(self.content, Format.XML, name).data
            data = orjson.loads(self.content)
            return data if isinstance(data, dict) else None
        except Exception:  # any unparseable body is "not a resource" to the grader
            return None


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Wire:
    target: Target
    _client: httpx.AsyncClient | None = None
    _signed: ClientCredentialsTokens | None = None
    _limited: ClientCredentialsTokens | None = None
    _interim: InterimTokens = field(init=False)

    def __post_init__(self) -> None:
        t = self.target
        self._interim = InterimTokens(
            consumer_ods=t.consumer_ods,
            consumer_name="uec-booking check",
            device_id="uec-booking-check",
            practitioner={
                "resourceType": "Practitioner",
                "id": "1",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "1"}],
                "name": [{"family": "AssurancePractitioner", "given": ["AssuranceTest"]}],
            },
        )
        if t.auth == "signed":
            if not (t.token_url and t.client_id and t.client_secret):
                raise ValueError("--auth signed needs --token-url, --client-id, --client-secret")
            context = t.tls()
            self._signed = ClientCredentialsTokens(
                token_url=t.token_url,
                client_id=t.client_id,
                client_secret=t.client_secret,
                transport=tls_transport(context, service="the token endpoint"),
            )
            if t.limited_client_id and t.limited_client_secret:
                self._limited = ClientCredentialsTokens(
                    token_url=t.token_url,
                    client_id=t.limited_client_id,
                    client_secret=t.limited_client_secret,
                    transport=tls_transport(context, service="the token endpoint"),
                )

    async def __aenter__(self) -> Wire:
        # identity unless a case asks for gzip: httpx would otherwise ask on every request.
        context = self.target.tls()
        self._client = httpx.AsyncClient(
            timeout=self.target.timeout,
            headers={"Accept-Encoding": "identity"},
            verify=context if context is not None else True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    # --- tokens -------------------------------------------------------------------------
    async def token(self, interaction: Interaction) -> str | None:
        """The valid token for an interaction in this auth mode (None: no auth)."""
        t = self.target
        if t.auth == "none":
            return None
        if self._signed is not None:
            if t.dry_run:
                return "<token from the token endpoint>"
            try:
                return await self._signed.token(audience=t.base_url)
            except ConsumerError as exc:
                raise NoToken(f"no token from {t.token_url}: {exc}") from exc
        return self.interim(interaction)

    def interim(
        self,
        interaction: Interaction,
        *,
        drop: tuple[str, ...] = (),
        signature: str = "",
        **overrides: Any,
    ) -> str:
        claims = self._interim.claims(self.target.base_url, scope=INTERIM_SCOPE[interaction])
        claims.pop("jti", None)
        for name in drop:
            claims.pop(name, None)
        claims.update(overrides)
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.{signature}"

    async def token_for_audience(self, interaction: Interaction, audience: str) -> str:
        if self.target.auth == "interim":
            return self.interim(interaction, aud=audience)
        if self._signed is None:
            raise CannotForge("no auth mode: nothing to present")
        try:
            return await self._signed.token(audience=audience)
        except ConsumerError as exc:  # the token service would not issue one: cannot be run
            raise CannotForge(f"the token service refused audience {audience}: {exc}") from exc

    def expired(self, interaction: Interaction) -> str:
        if self.target.auth != "interim":
            raise CannotForge("an expired signed token cannot be forged without the signing key")
        iat = int(time.time()) - 3600
        return self.interim(interaction, iat=iat, exp=iat + 300)

    async def limited(self) -> str:
        """A valid token whose scope covers slot search only."""
        if self.target.auth == "interim":
            return self.interim(Interaction.READ_SLOT)
        if self._limited is None:
            raise CannotForge("needs --limited-client-id/--limited-client-secret (slot-only)")
        try:
            return await self._limited.token(audience=self.target.base_url)
        except ConsumerError as exc:
            raise CannotForge(f"no token for the slot-only client: {exc}") from exc

    # --- requests -----------------------------------------------------------------------
    def url(self, path: str) -> str:
        url = self.target.base_url + path
        return f"{self.target.ssp_url.rstrip('/')}/{url}" if self.target.ssp_url else url

    async def send(
        self,
        case: CaseResult,
        method: str,
        path: str,
        *,
        interaction: Interaction,
        token: str | bool | None = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        gzip_body: bool = False,
        request_id: str | None = None,
    ) -> Response:
        """Send one request (path relative to the FHIR base, query string as the kit writes
        it); `token=True` is the valid token for the interaction, None/False none at all."""
        sent: dict[str, str] = {
            "Ssp-TraceID": str(uuid.uuid4()),
            "Ssp-From": self.target.from_asid,
            "Ssp-To": self.target.to_asid,
            "Ssp-InteractionID": KIT_INTERACTION[interaction],
            "X-Request-ID": request_id or str(uuid.uuid4()),
        }
        bearer = await self.token(interaction) if token is True else token or None
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        sent.update(headers or {})
        wire_body = body
        if body is not None and gzip_body:
            wire_body = gzip.compress(body)
            sent["Content-Encoding"] = "gzip"
        exchange = Exchange(
            method, self.url(path), sent, body.decode("utf-8", "replace") if body else None
        )
        case.exchanges.append(exchange)
        if self.target.dry_run:
            raise Planned
        assert self._client is not None, "use `async with Wire(...)`"
        response = await self._client.request(method, exchange.url, headers=sent, content=wire_body)
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_body = response.text[:4000]
        return Response(response.status_code, response.headers, response.content)
