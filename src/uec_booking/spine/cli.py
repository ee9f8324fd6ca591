"""`uec-booking serve auth|pds|dos|sds|ssp`: each national-service stand-in on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from uec_booking import sample_data
from uec_booking.asgi_server import RequestTimeouts, serve
from uec_booking.cli_options import check_tls_pair, options


def _load(directory: Path | None) -> dict[str, Any]:
    """The directory file given, else the sample directory."""
    return sample_data.load(str(directory) if directory else None)


def _run(app: Any, host: str, port: int, what: str, head: float | None, body: float | None) -> None:
    timeouts = RequestTimeouts.from_env(head, body)
    typer.echo(f"{what} on http://{host}:{port}")
    serve(app, host=host, port=port, timeouts=timeouts)


@options("serve auth")
def serve_auth(
    host: str,
    port: int,
    issuer: str | None,
    clients_file: Path | None,
    directory: Path | None,
    provider: list[str] | None,
    keys_dir: Path | None,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """NHS authentication: OAuth2 client credentials → RS256 JWT; JWKS."""
    from uec_booking.spine.auth import ClientRegistry, create_app
    from uec_booking.spine.auth_keys import KeySet

    clients = (
        ClientRegistry.from_file(clients_file)
        if clients_file
        else ClientRegistry.from_directory(_load(directory))
    )
    # Without a registry file, the provider of the default sandbox layout is registered.
    default = [] if clients_file else ["http://127.0.0.1:8020/fhir"]
    for url in provider or default:
        clients.register_provider(url)
    keys = KeySet.from_directory(keys_dir) if keys_dir else None
    app = create_app(issuer=issuer or f"http://{host}:{port}", clients=clients, keys=keys)
    _run(app, host, port, "NHS auth", request_head_timeout, request_body_timeout)


@options("serve pds")
def serve_pds(
    host: str,
    port: int,
    directory: Path | None,
    jwks_url: str | None,
    issuer: str | None,
    open_sandbox: bool,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """PDS: FHIR R4 Patient read/search (X-Request-ID and a platform token required)."""
    from uec_booking.spine.pds import create_app
    from uec_booking.tokens import TokenVerifier

    if not open_sandbox and not (jwks_url and issuer):
        raise typer.BadParameter(
            "give --jwks-url and --issuer (the platform auth that issues PDS tokens), or --open",
            param_hint="--jwks-url / --open",
        )
    verifier = (
        None if open_sandbox else TokenVerifier(jwks_url=jwks_url, issuer=issuer, audience=issuer)
    )
    app = create_app(
        _load(directory),
        verifier=verifier,
        open_sandbox=open_sandbox,
    )
    _run(app, host, port, "PDS", request_head_timeout, request_body_timeout)


@options("serve dos")
def serve_dos(
    host: str,
    port: int,
    username: str,
    password: str,
    directory: Path | None,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """DoS: the v1.5 SOAP API (WSDL at /app/api/webservices?wsdl)."""
    from uec_booking.spine.dos import create_app

    app = create_app(_load(directory), username=username, password=password)
    _run(app, host, port, "DoS", request_head_timeout, request_body_timeout)


@options("serve sds")
def serve_sds(
    host: str,
    port: int,
    provider_endpoint: str,
    slapd: bool,
    directory: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    starttls: bool,
) -> None:
    """SDS: an LDAP directory of nhsAS / nhsMHS entries (embedded, or on slapd)."""
    from uec_booking.spine.sds import SdsTLS
    from uec_booking.spine.sds import serve_sds as serve
    from uec_booking.spine.sds_ldif import build_ldif

    ldif = build_ldif(_load(directory), provider_endpoint=provider_endpoint)
    check_tls_pair(tls_cert, tls_key)
    tls = SdsTLS(tls_cert, tls_key, tls_client_ca, starttls) if tls_cert and tls_key else None
    serve(host, port, ldif_text=ldif, slapd=slapd, tls=tls)


@options("serve ssp")
def serve_ssp(
    host: str,
    port: int,
    sds_url: str,
    sds_base: str,
    timeout: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """SSP: the forward proxy checking Ssp-* headers against SDS. With --tls-cert/--tls-key
    (and --tls-ca): HTTPS with TLS mutual authentication, the same certificate presented to
    SDS and providers; without, plain HTTP for debugging (no client certificate checked)."""
    from uec_booking.spine.ssp import create_app, upstream_context
    from uec_booking.spine.ssp_registry import LdapRegistry
    from uec_booking.tls import ServerTLS, client_context

    check_tls_pair(tls_cert, tls_key)
    ca = str(tls_ca) if tls_ca else None
    registry = LdapRegistry(
        url=sds_url,
        base=sds_base,
        ca_file=ca,
        cert_file=str(tls_cert) if tls_cert else None,
        key_file=str(tls_key) if tls_key else None,
    )
    app = create_app(registry=registry, timeout=timeout, mutual_tls=tls_cert is not None)
    tls = None
    if tls_cert and tls_key:
        tls = ServerTLS(tls_cert, tls_key, client_ca=tls_ca, require_client=False)
        upstream_context(app, client_context(ca_file=ca, cert_file=tls_cert, key_file=tls_key))
    timeouts = RequestTimeouts.from_env(request_head_timeout, request_body_timeout)
    typer.echo(f"SSP on {'https' if tls else 'http'}://{host}:{port}")
    serve(
        app,
        host=host,
        port=port,
        tls=tls,
        timeouts=timeouts,
        hsts=False,  # the SSP adds HSTS itself when the provider sent none
        server_header=False,
        date_header=False,
    )
