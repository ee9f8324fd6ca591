"""The options every `uec-booking serve ...` command shares, declared once: where it listens
and how long a client may take to send a request (`asgi_server.RequestTimeouts`)."""

from __future__ import annotations

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
