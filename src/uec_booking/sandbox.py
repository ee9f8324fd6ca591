"""The sandbox: every national service and one seeded provider, on loopback, in one process.

Each server is a real one on its own port (uvicorn, or LDAP for SDS); they reach each other
only over the wire, exactly as they would across the country. The manifest says where
everything is, in the shape DESIGN.md fixes, so a newcomer or a test needs no code.

TLS by default, as Spine: a sandbox CA stands in for Spine's and issues every server its
certificate and the consumer and the SSP their client certificates (`tls` in the manifest).
The SSP, SDS and PDS require TLS mutual authentication; the provider accepts only clients
with a certificate from that CA (the SSP). `tls=False` (`--plain`) is for debugging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from uec_booking import sample_data
from uec_booking.asgi_server import RequestTimeouts, ThreadedServer
from uec_booking.netutil import free_port
from uec_booking.sandbox_credentials import (
    issue_certificates,
    register_pds_application,
    tls_manifest,
)
from uec_booking.tls import CertificateAuthority, Credential, ServerTLS, client_context

log = logging.getLogger("uec_booking.sandbox")

# Offsets from --base-port, so the default layout matches DESIGN.md's example (8010, 8020, 8389).
PORT_OFFSETS = {
    "ssp": 10,
    "provider": 20,
    "auth": 30,
    "pds": 40,
    "dos": 50,
    "console": 60,
    "identity": 70,  # the identity provider for people (stand-in for NHS CIS2)
    "sds_fhir": 80,
    "sds": 389,
}
DOS_USERNAME = "sandbox-111"
DOS_PASSWORD = "sandbox-dos-password"
SDS_BASE = "ou=Services,o=nhs"
SDS_API_KEY = "sandbox-sds-api-key"


class ServerSet:
    """Servers started together, described by a manifest: `start()` returns it (a failure
    part way stops what had started), `stop()` stops everything in the reverse order it was
    started; or use `with`. A subclass starts its servers in `_start`, registering each one's
    stop in `_stoppers`."""

    manifest: dict[str, Any]
    _stoppers: list[Callable[[], object]]

    def _start(self) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def write_manifest(self, path: Path) -> None:
        """Write the manifest atomically: a reader never sees half a file."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:  # stopping the rest matters more than one failure
                log.exception("error stopping a sandbox server")

    def __enter__(self) -> dict[str, Any]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Sandbox(ServerSet):
    """Start with `start()` (returns the manifest), stop with `stop()`; or use `with`."""

    host: str = "127.0.0.1"
    base_port: int | None = None  # None: any free ports
    db_url: str | None = None  # default: a SQLite file in a temporary directory
    days: int = 7
    slapd: bool = False
    journal_db: str | None = None  # the console's journal (default: beside the temporary store)
    auth_mode: str = "signed"  # or "interim": the provider takes consumer-built unsigned tokens
    tls: bool = True  # False: plain HTTP and LDAP, for debugging only
    timeouts: RequestTimeouts | None = None  # default: from UEC_REQUEST_*_TIMEOUT
    directory: dict[str, Any] = field(default_factory=sample_data.load)
    manifest: dict[str, Any] = field(default_factory=dict, init=False)
    _stoppers: list[Callable[[], object]] = field(default_factory=list, init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    _ports: dict[str, int] = field(default_factory=dict, init=False)
    _clients: Any = field(default=None, init=False)
    _ca: CertificateAuthority | None = field(default=None, init=False)
    _creds: dict[str, Credential] = field(default_factory=dict, init=False)

    def _port(self, name: str) -> int:
        if self.base_port is None:
            return free_port(self.host)
        return self.base_port + PORT_OFFSETS[name]

    def _serve(
        self, app: Any, name: str, *, mutual: bool | None = None, relay: bool = False
    ) -> str:
        """Serve `app` on its port; over TLS unless plain, with `mutual=True` requiring a
        client certificate from the CA in the handshake, `mutual=False` asking for one and
        leaving the refusal to the app (the SSP)."""
        tls = None
        if self._ca is not None and name in self._creds:
            cred = self._creds[name]
            tls = ServerTLS(
                cred.cert,
                cred.key,
                client_ca=self._ca.cert if mutual is not None else None,
                require_client=bool(mutual),
            )
        server = ThreadedServer(
            app,
            host=self.host,
            port=self._ports[name],
            tls=tls,
            relay=relay,
            timeouts=self.timeouts,
        ).start()
        self._stoppers.append(server.stop)
        return server.url

    def register_provider(self, base_url: str) -> None:
        """Let the auth service mint tokens for another provider (one a test starts itself)."""
        self._clients.register_provider(base_url)

    def _jwks_client(self) -> Any:
        """An HTTP client trusting the sandbox CA, for servers that fetch the auth service's
        JWKS over TLS (None when plain: the verifier makes its own)."""
        if self._ca is None:
            return None
        import httpx

        from uec_booking.tls import client_context

        return httpx.AsyncClient(
            verify=client_context(ca_file=str(self._ca.cert), service="the JWKS server")
        )

    def _start(self) -> dict[str, Any]:
        import uec_booking.spine.auth as auth
        import uec_booking.spine.dos as dos
        import uec_booking.spine.pds as pds
        import uec_booking.spine.sds_fhir as sds_fhir
        from uec_booking.provider.app import create_app as provider_app
        from uec_booking.provider.seed import seed
        from uec_booking.provider.settings import AuthMode, ProviderSettings
        from uec_booking.provider.store import Store
        from uec_booking.provider.store.migrate import upgrade
        from uec_booking.spine.sds_ldif import build_ldif

        self._ports = {name: self._port(name) for name in PORT_OFFSETS}
        directory = self.directory
        provider_system = directory["provider_system"]
        consumer = directory["consumer_systems"][0]
        self._tmp = tempfile.TemporaryDirectory(prefix="uec-sandbox-")
        if self.tls:
            self._ca, self._creds = issue_certificates(Path(self._tmp.name), directory, self.host)
        scheme = "https" if self.tls else "http"

        if self.auth_mode not in ("signed", "interim"):
            raise ValueError(f"auth mode {self.auth_mode!r}: choose signed or interim")
        auth_port = self._ports["auth"]
        issuer = f"{scheme}://{self.host}:{auth_port}"
        provider_port = self._ports["provider"]
        provider_base = f"{scheme}://{self.host}:{provider_port}/fhir"
        # Tokens are minted only for registered providers: register ours.
        clients = auth.ClientRegistry.from_directory(directory, providers=[provider_base])
        self._clients = clients
        pds_app = register_pds_application(clients, consumer, Path(self._tmp.name))
        auth_url = self._serve(auth.create_app(issuer=issuer, clients=clients), "auth")

        ldif = build_ldif(directory, provider_endpoint=provider_base)
        sds = self._start_sds(ldif)
        sds_fhir_url = self._serve(
            sds_fhir.create_app(ldif, api_key=SDS_API_KEY), "sds_fhir", mutual=True
        )

        db_url = self.db_url
        if db_url is None:
            db_url = f"sqlite:///{Path(self._tmp.name) / 'provider.sqlite3'}"
        upgrade(db_url)
        asyncio.run(_seed(db_url, directory, self.days, seed, Store))
        settings = ProviderSettings(
            db_url=db_url,
            public_base_url=provider_base,
            auth_mode=AuthMode(self.auth_mode),
            jwks_url=f"{auth_url}/.well-known/jwks.json",
            token_issuer=issuer,
            ods_code=provider_system["ods"],
            asid=provider_system["asid"],
            tls_ca_file=str(self._ca.cert) if self._ca else None,
        )
        # Providers accept only the SSP: a client certificate from Spine's CA is required.
        self._serve(provider_app(settings), "provider", mutual=True)

        from uec_booking.tokens import TokenVerifier

        # PDS takes the platform's application-restricted tokens (aud: the platform).
        platform = TokenVerifier(
            jwks_url=f"{auth_url}/.well-known/jwks.json",
            issuer=issuer,
            audience=issuer,
            http=self._jwks_client(),
        )
        pds_url = self._serve(pds.create_app(directory, verifier=platform), "pds", mutual=True)
        dos_url = self._serve(
            dos.create_app(directory, username=DOS_USERNAME, password=DOS_PASSWORD), "dos"
        )
        ssp_url = self._start_ssp(sds.url)

        self.manifest = {
            "provider": {
                "url": provider_base,
                "asid": provider_system["asid"],
                "ods": provider_system["ods"],
                "db": make_url(db_url).render_as_string(hide_password=True),
            },
            "ssp": {"url": ssp_url},
            "auth": {
                "token_url": f"{auth_url}/oauth2/token",
                "jwks_url": f"{auth_url}/.well-known/jwks.json",
                "issuer": issuer,
                "client_id": consumer["client_id"],
                "client_secret": consumer["client_secret"],
                "asid": consumer["asid"],
                "ods": consumer["ods"],
                "audience": provider_base,
                "mode": self.auth_mode,
            },
            "sds": {
                "url": sds.url,
                "base": SDS_BASE,
                "server": "slapd" if self.slapd else "embedded",
                "fhir_url": f"{sds_fhir_url}{sds_fhir.BASE_PATH}",
                "api_key": SDS_API_KEY,
            },
            "dos": {
                "wsdl": f"{dos_url}/app/api/webservices?wsdl",
                "username": DOS_USERNAME,
                "password": DOS_PASSWORD,
            },
            "pds": {
                "url": f"{pds_url}/personal-demographics/FHIR/R4",
                "token_url": f"{auth_url}/oauth2/token",
                **pds_app,
            },
            "patients": [
                {
                    "nhs_number": p["nhs_number"],
                    "postcode": p["postcode"],
                    "name": f"{p['given'][0]} {p['family']}",
                }
                for p in directory["patients"]
            ],
            "tls": tls_manifest(self._ca, self._creds),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.manifest["console"] = {"url": self._start_console(db_url)}
        return self.manifest

    def _start_sds(self, ldif: str) -> Any:
        """SDS over LDAP: ldaps with TLS-MA (a client certificate from the CA), or plain."""
        from uec_booking.spine.sds import SdsTLS, start_embedded_sds

        tls = None
        if self._ca is not None:
            cred = self._creds["sds"]
            tls = SdsTLS(cred.cert, cred.key, client_ca=self._ca.cert)
        if self.slapd:
            from uec_booking.spine.slapd import start_slapd

            sds = start_slapd(ldif, host=self.host, port=self._ports["sds"], tls=tls)
        else:
            sds = start_embedded_sds(ldif, self.host, self._ports["sds"], tls=tls)
        self._stoppers.append(sds.stop)
        return sds

    def _start_ssp(self, sds_url: str) -> str:
        """The SSP: TLS-MA towards consumers (its own refusals: 495/496), its own client
        certificate towards SDS and providers."""
        import uec_booking.spine.ssp as ssp
        from uec_booking.spine.ssp_registry import LdapRegistry

        cred = self._creds.get("ssp")
        ca = str(self._ca.cert) if self._ca else None
        registry = LdapRegistry(
            url=sds_url,
            base=SDS_BASE,
            ca_file=ca,
            cert_file=str(cred.cert) if cred else None,
            key_file=str(cred.key) if cred else None,
        )
        app = ssp.create_app(registry=registry, mutual_tls=self._ca is not None)
        if cred is not None:
            ssp.upstream_context(
                app, client_context(ca_file=ca, cert_file=cred.cert, key_file=cred.key)
            )
        return self._serve(app, "ssp", mutual=False, relay=True)

    def _start_console(self, db_url: str) -> str:
        """The booking console, using the consumer configuration the manifest describes."""
        from uec_booking.console.app import Console, create_app
        from uec_booking.consumer.config import from_manifest, load_config
        from uec_booking.consumer.journal import Journal

        assert self._tmp is not None or self.journal_db is not None
        journal_url = (
            self.journal_db
            or f"sqlite:///{Path(self._tmp.name if self._tmp else '.') / 'consumer.sqlite3'}"
        )
        config = load_config(**from_manifest(self.manifest), journal_db=journal_url)
        settings = self._start_identity()
        self.manifest["identity"] = {
            "issuer": settings.oidc_issuer,
            "console_client_id": settings.oidc_client_id,
            "console_client_secret": settings.oidc_client_secret,
            "users": [
                {"username": p["username"], "password": p["password"], "roles": p["roles"]}
                for p in self.directory.get("people", [])
            ],
        }
        console = Console(config, Journal(journal_url), replace(settings, provider_db=db_url))
        return self._serve(create_app(console), "console")

    def _start_identity(self) -> Any:
        """The identity provider for people, with the console registered as its client."""
        from uec_booking.console.settings import ConsoleSettings
        from uec_booking.spine import identity

        console_url = f"http://{self.host}:{self._ports['console']}"
        client = self.directory["console_client"]
        server = identity.IdentityServer(
            issuer=f"http://{self.host}:{self._ports['identity']}",
            people=identity.people_from_directory(self.directory),
            clients=[
                identity.OidcClient(
                    client["client_id"],
                    client["client_secret"],
                    (f"{console_url}/signin/callback",),
                )
            ],
        )
        issuer = self._serve(identity.create_app(server), "identity")
        return ConsoleSettings(
            oidc_issuer=issuer,
            oidc_client_id=client["client_id"],
            oidc_client_secret=client["client_secret"],
            public_url=console_url,
        )

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


async def _seed(
    db_url: str, directory: dict[str, Any], days: int, seed: Any, store_class: Any
) -> None:
    store = store_class(db_url)
    try:
        await seed(store, directory, first_day=datetime.now(UTC).date(), days=days)
    finally:
        await store.dispose()
