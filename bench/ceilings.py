"""The ceilings: the least a server on the same stack could do for the same answer, measured
in the same run as the provider. Slot search: a Starlette endpoint answering the bytes the
provider answered, already built. Booking: a Starlette endpoint running the provider's own
booking statement (`store.appointments.BOOK_STATEMENT`) through asyncpg and answering bytes
the size of the provider's answer. The SSP: a forward proxy on the SSP's own stack relaying
as it does, checking nothing. Each runs under uvicorn as its own process(es)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpcore
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from uec_booking.provider.store.appointments import BOOK_STATEMENT
from uec_booking.provider.store.direct import driver_dsn

MEDIA = "application/fhir+json;charset=utf-8"


def search_app() -> Starlette:
    """`UEC_CEILING_BODY`: a file holding the provider's answer."""
    with open(os.environ["UEC_CEILING_BODY"], "rb") as f:
        body = f.read()

    async def answer(request: Request) -> Response:
        return Response(body, media_type=MEDIA, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/fhir/Slot", answer)])


def booking_app() -> Starlette:
    """`UEC_CEILING_DB`: the database; `UEC_CEILING_BODY`: an answer of the provider's size."""
    with open(os.environ["UEC_CEILING_BODY"], "rb") as f:
        body = f.read()
    pools: dict[str, asyncpg.Pool] = {}

    async def book(request: Request) -> Response:
        if "pool" not in pools:
            pools["pool"] = await asyncpg.create_pool(
                driver_dsn(os.environ["UEC_CEILING_DB"]), min_size=1, max_size=10
            )
        sent: dict[str, Any] = orjson.loads(await request.body())
        slot_id = sent["slot"][0]["reference"].removeprefix("Slot/")
        at = datetime.now(UTC).replace(tzinfo=None)
        start = datetime.fromisoformat(sent["start"]).astimezone(UTC).replace(tzinfo=None)
        end = datetime.fromisoformat(sent["end"]).astimezone(UTC).replace(tzinfo=None)
        async with pools["pool"].acquire() as conn:
            claimed = await conn.fetchval(
                BOOK_STATEMENT,
                at,
                slot_id,
                start,
                end,
                None,
                None,
                False,
                str(uuid.uuid4()),
                "booked",
                "9000000009",
                "0" * 64,
                None,
                None,
                None,
                None,
                body.decode(),
                "create:appointment",
                None,
                f"slot {slot_id}",
            )
        return Response(body, status_code=201 if claimed else 409, media_type=MEDIA)

    return Starlette(routes=[Route("/fhir/Appointment", book, methods=["POST"])])


def relay_app() -> Starlette:
    """What the SSP is held to: Starlette under uvicorn and an httpcore pool, as the SSP, taking
    the provider's URL from the path, relaying the request and the answer whole, and doing
    nothing else (no Ssp-* checks, no SDS, no header rewriting)."""
    pools: dict[str, httpcore.AsyncConnectionPool] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpcore.AsyncConnectionPool(max_connections=200) as pool:
            pools["pool"] = pool
            yield

    async def relay(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        target = scope["raw_path"].decode("ascii")[1:]
        query = scope["query_string"].decode("ascii")
        host = target.split("/")[2]
        answer = await pools["pool"].request(
            scope["method"],
            target + (f"?{query}" if query else ""),
            headers=[(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host)],
            content=await request.body(),
        )
        response = Response(answer.content, status_code=answer.status)
        response.raw_headers = [(k.lower(), v) for k, v in answer.headers]
        await response(scope, receive, send)

    app = Starlette(lifespan=lifespan)
    app.router.default = relay
    return app
