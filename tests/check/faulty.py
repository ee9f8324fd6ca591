"""Deliberately broken providers for the checker to catch: a faulty proxy in front of our
real provider (rewrites statuses, drops headers, ignores If-Match, forwards a token it
substitutes), and a minimal fake provider that double-books under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class Faults:
    status_map: dict[int, int] = field(default_factory=dict)  # e.g. {422: 409}
    drop_headers: set[str] = field(default_factory=set)  # response headers removed
    ignore_if_match: bool = False  # cancels succeed whatever If-Match says
    substitute_token: Callable[[], Awaitable[str]] | None = None  # no aud (or any) check
    plain_errors: bool = False  # 4xx answered without an OperationOutcome
    json_only: bool = False  # Accept and _format ignored
    rewrite: Callable[[str, str, bytes], bytes] | None = None  # (method, path, JSON body)


def faulty_proxy(upstream: str, faults: Faults) -> Starlette:
    """An ASGI app serving `/fhir/...` by forwarding to `upstream` (a FHIR base URL)."""
    clients: list[httpx.AsyncClient] = []  # made and closed on the server's own loop

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as client:
            clients.append(client)
            yield

    async def forward(request: Request) -> Response:
        client = clients[0]
        path = request.url.path.removeprefix("/fhir")
        query = request.url.query
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers["accept-encoding"] = "identity"
        if faults.json_only:
            headers["accept"] = "application/fhir+json"
            query = "&".join(p for p in query.split("&") if not p.startswith("_format="))
        if faults.substitute_token is not None and "authorization" in headers:
            headers["authorization"] = f"Bearer {await faults.substitute_token()}"
        if faults.ignore_if_match and request.method == "PUT":
            current = await client.get(
                upstream + path, headers={**headers, "accept": "application/fhir+json"}
            )
            if "etag" in current.headers:
                headers["if-match"] = current.headers["etag"]
        url = upstream + path + (f"?{query}" if query else "")
        body = await request.body()
        got = await client.request(request.method, url, headers=headers, content=body)
        status = faults.status_map.get(got.status_code, got.status_code)
        out = {k: v for k, v in got.headers.items() if k.lower() not in HOP | faults.drop_headers}
        content = got.content
        if faults.rewrite is not None and "json" in got.headers.get("content-type", ""):
            content = faults.rewrite(request.method, path, content)
        if faults.plain_errors and status >= 400:
            content, out["content-type"] = b"error", "text/plain"
        return Response(content, status_code=status, headers=out)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(
        routes=[Route("/fhir/{path:path}", forward, methods=methods)], lifespan=lifespan
    )


def double_booking_provider() -> Starlette:
    """A fake provider whose booking checks the slot, pauses, then books: two concurrent
    requests for one slot both succeed (the bug the standard's atomic booking rules out)."""
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    slots: dict[str, dict[str, Any]] = {}
    for i in range(6):
        begin = start + timedelta(minutes=15 * i)
        slots[f"s{i}"] = {
            "resourceType": "Slot",
            "id": f"s{i}",
            "schedule": {"reference": "Schedule/sch1"},
            "status": "free",
            "start": begin.isoformat(),
            "end": (begin + timedelta(minutes=15)).isoformat(),
        }

    def fhir(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
        return Response(orjson.dumps(body), status, headers, media_type="application/fhir+json")

    async def search(request: Request) -> Response:
        free = [s for s in slots.values() if s["status"] == "free"]
        return fhir(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(free),
                "entry": [{"resource": s, "search": {"mode": "match"}} for s in free],
            }
        )

    async def book(request: Request) -> Response:
        body = orjson.loads(await request.body())
        slot = slots[body["slot"][0]["reference"].lstrip("#").split("/")[-1]]
        if slot["status"] != "free":
            return fhir(
                {
                    "resourceType": "OperationOutcome",
                    "id": "1",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "processing",
                            "diagnostics": "Slot no longer available",
                        }
                    ],
                },
                422,
            )
        await asyncio.sleep(0.2)  # the read-then-write gap
        slot["status"] = "busy"
        appointment = {**body, "id": str(uuid.uuid4()), "meta": {"versionId": "1"}}
        base = str(request.base_url).rstrip("/") + "/fhir"
        return fhir(appointment, 201, location=f"{base}/Appointment/{appointment['id']}")

    return Starlette(
        routes=[
            Route("/fhir/Slot", search, methods=["GET"]),
            Route("/fhir/Appointment", book, methods=["POST"]),
        ]
    )


def _slots_busy(body: bytes, *, first_only: bool) -> bytes:
    data = orjson.loads(body)
    if data.get("resourceType") == "Slot":
        data["status"] = "busy"
    for entry in data.get("entry") or []:
        if entry.get("resource", {}).get("resourceType") == "Slot":
            entry["resource"]["status"] = "busy"
            if first_only:
                break
    return orjson.dumps(data)


def busy_in_free_search(method: str, path: str, body: bytes) -> bytes:
    """A `status=free` search that returns a busy Slot."""
    return _slots_busy(body, first_only=True) if method == "GET" and path == "/Slot" else body


def slot_stays_busy(method: str, path: str, body: bytes) -> bytes:
    """Cancelling does not free the Slot: a read of it still says busy."""
    return (
        _slots_busy(body, first_only=False)
        if method == "GET" and path.startswith("/Slot/")
        else body
    )
