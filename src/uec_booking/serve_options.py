"""The options every `uec-booking serve ...` command shares, declared once: where it listens
and how long a client may take to send a request (`asgi_server.RequestTimeouts`)."""

from __future__ import annotations

from typing import Annotated

import typer

from uec_booking.asgi_server import BODY_TIMEOUT_ENV, HEAD_TIMEOUT_ENV, RequestTimeouts

Host = Annotated[str, typer.Option(envvar="UEC_HOST", help="Interface to listen on")]
Port = Annotated[int, typer.Option(envvar="UEC_PORT", help="Port to listen on")]
HeadTimeout = Annotated[
    float | None,
    typer.Option(
        envvar=HEAD_TIMEOUT_ENV,
        metavar="SECONDS",
        min=0.001,
        help=f"Time for a request's line and headers, then 408 and close "
        f"(default {RequestTimeouts.head:g})",
    ),
]
BodyTimeout = Annotated[
    float | None,
    typer.Option(
        envvar=BODY_TIMEOUT_ENV,
        metavar="SECONDS",
        min=0.001,
        help=f"Time for a request's whole body after its headers, then 408 and close "
        f"(default {RequestTimeouts.body:g})",
    ),
]
