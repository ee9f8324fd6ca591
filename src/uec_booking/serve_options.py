"""The options the `uec-booking` commands share, declared once: where a server listens, how
long a client may take to send a request (`asgi_server.RequestTimeouts`), the TLS it serves
with, the provider's store, the consumer configuration or sandbox manifest, the sample
directory and JSON output. Where commands word an option's help differently, a function
gives the option (flag and environment variable) with that command's help."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from uec_booking.asgi_server import BODY_TIMEOUT_ENV, HEAD_TIMEOUT_ENV, RequestTimeouts

Host = Annotated[str, typer.Option(envvar="UEC_HOST", help="Interface to listen on")]
Port = Annotated[int, typer.Option(envvar="UEC_PORT", help="Port to listen on")]


def _timeout(envvar: str, what: str, default: float) -> Any:
    return typer.Option(
        envvar=envvar,
        metavar="SECONDS",
        min=0.001,
        help=f"Time for {what}, then 408 and close (default {default:g})",
    )


HeadTimeout = Annotated[
    float | None,
    _timeout(HEAD_TIMEOUT_ENV, "a request's line and headers", RequestTimeouts.head),
]
BodyTimeout = Annotated[
    float | None,
    _timeout(BODY_TIMEOUT_ENV, "a request's whole body after its headers", RequestTimeouts.body),
]


def _pem(envvar: str, help: str) -> Any:
    return typer.Option(envvar=envvar, exists=True, help=help)


TlsCert = Annotated[Path | None, _pem("UEC_TLS_CERT", "Serve TLS: certificate (PEM)")]
TlsKey = Annotated[Path | None, _pem("UEC_TLS_KEY", "... and its key (PEM)")]
TlsClientCa = Annotated[
    Path | None,
    _pem(
        "UEC_TLS_CLIENT_CA",
        "Require a client certificate from this CA (TLS mutual authentication: Spine's)",
    ),
]
TlsCa = Annotated[
    Path | None,
    _pem("UEC_TLS_CA_FILE", "The CA clients' and servers' certificates come from (Spine's)"),
]


def check_tls_pair(cert: Path | None, key: Path | None) -> None:
    """A certificate is served with its key: one without the other is a mistake, not plain."""
    if bool(cert) != bool(key):
        raise typer.BadParameter("--tls-cert and --tls-key go together", param_hint="--tls-cert")


def provider_db(help: str, metavar: str | None = None) -> Any:
    """`--db` (UEC_DB_URL): the provider's store."""
    return typer.Option("--db", envvar="UEC_DB_URL", metavar=metavar, help=help)


ProviderDb = Annotated[str, provider_db("sqlite:///file or postgresql://…", metavar="URL")]


def config_file(help: str, metavar: str | None = None) -> Any:
    """`--config` (UEC_CONFIG): a file that must exist."""
    return typer.Option("--config", exists=True, envvar="UEC_CONFIG", metavar=metavar, help=help)


ConfigFile = Annotated[Path | None, config_file("TOML config or sandbox manifest")]
SampleDirectory = Annotated[
    Path | None, typer.Option("--directory", exists=True, help="Sample directory JSON")
]


def json_output(help: str) -> Any:
    return typer.Option("--json", help=help)
