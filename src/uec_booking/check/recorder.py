"""Recording reverse proxies for assurance mode: one in front of the sandbox's SSP, one in
front of its DoS. Each request of the consumer under test is kept as it arrived (raw path
and query, headers, body) and forwarded unchanged to the real stand-in; the DoS recorder
serves the stand-in's WSDL with its own address in it (so zeep posts through it) and plays
the scripts of `check/scripts.py`: after the n-th CheckCapacitySummary for a postcode, the
next ServiceDetailsById answer names the script's ASID (or two ASIDs)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uec_booking.check.scripts import SCRIPTS, Script

HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@dataclass
class Recorded:
    method: str
    raw_target: str  # path and query exactly as the consumer sent them
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: bytes = b""
    at: float = field(default_factory=time.monotonic)


@dataclass
class Recording:
    requests: list[Recorded] = field(default_factory=list)
    # (script kind, DoS service id, when) for every answer a script rewrote
    scripted: list[tuple[str, str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Recorded) -> None:
        with self._lock:
            self.requests.append(item)

    def scripted_snapshot(self) -> list[tuple[str, str, float]]:
        with self._lock:
            return list(self.scripted)

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)


def _raw_target(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    return raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


def _app(handler: object) -> Starlette:
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=60) as client:
            clients.append(client)
            yield

    async def endpoint(request: Request) -> Response:
        return await handler(request, clients[0])  # type: ignore[operator, no-any-return]

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)], lifespan=lifespan)


async def _forward(
    client: httpx.AsyncClient, request: Request, url: str, body: bytes
) -> httpx.Response:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    return await client.request(request.method, url, headers=headers, content=body)


def _response(got: httpx.Response, content: bytes | None = None) -> Response:
    headers = {k: v for k, v in got.headers.items() if k.lower() not in HOP}
    return Response(got.content if content is None else content, got.status_code, headers)


async def _relay(
    request: Request, client: httpx.AsyncClient, upstream: str, recording: Recording
) -> tuple[str, bytes, Recorded, httpx.Response]:
    """Record the request as it came, forward it, record the answer: the raw target goes on
    unchanged, so the upstream sees what the consumer built."""
    target = _raw_target(request)
    body = await request.body()
    item = Recorded(request.method, target, dict(request.headers), body)
    recording.add(item)
    got = await _forward(client, request, upstream + target, body)
    item.status, item.response = got.status_code, got.content
    return target, body, item, got


def ssp_recorder(upstream: str, recording: Recording) -> Starlette:
    """Forward `<recorder>/<anything>` to `<upstream>/<anything>` byte for byte."""
    upstream = upstream.rstrip("/")

    async def handle(request: Request, client: httpx.AsyncClient) -> Response:
        *_, got = await _relay(request, client, upstream, recording)
        return _response(got)

    return _app(handle)


def dos_recorder(
    upstream: str, public: str, recording: Recording, *, scripts: tuple[Script, ...] = SCRIPTS
) -> Starlette:
    """`upstream`/`public`: the DoS stand-in's and this recorder's base URLs."""
    upstream, public = upstream.rstrip("/"), public.rstrip("/")
    armed: list[Script | None] = [None]
    asked: dict[str, int] = {}  # postcode -> CheckCapacitySummary calls so far

    async def handle(request: Request, client: httpx.AsyncClient) -> Response:
        target, body, item, got = await _relay(request, client, upstream, recording)
        content = got.content
        if request.method == "GET" and "wsdl" in target.lower():
            content = content.replace(upstream.encode(), public.encode())
        elif b"CheckCapacitySummary" in body:
            armed[0] = None
            for postcode in {s.postcode for s in scripts}:
                if postcode.encode() in body:
                    asked[postcode] = n = asked.get(postcode, 0) + 1
                    armed[0] = next(
                        (s for s in scripts if s.postcode == postcode and s.nth == n), None
                    )
        elif armed[0] is not None and b"ServiceDetailsById" in body and b"ASID:" in content:
            script, armed[0] = armed[0], None
            if script.asid is None:
                content = _second_booking_asid(content)
            else:
                content = re.sub(rb"ASID:\d+", b"ASID:" + script.asid.encode(), content)
            item.response = content
            match = re.search(rb"<(?:\w+:)?serviceId>\s*(\d+)\s*<", body)
            if match:
                recording.scripted.append((script.kind, match.group(1).decode(), item.at))
        return _response(got, content)

    return _app(handle)


def _second_booking_asid(envelope: bytes) -> bytes:
    """Scripted answer (C7): the service's booking endpoint appears twice, with two ASIDs."""
    root = etree.fromstring(
        envelope, parser=etree.XMLParser(no_network=True, resolve_entities=False)
    )
    for endpoint in root.iter("{*}endpoint"):
        address = next(
            (e for e in endpoint.iter("{*}address") if (e.text or "").startswith("ASID:")), None
        )
        if address is not None:
            twin = etree.fromstring(etree.tostring(endpoint))
            for e in twin.iter("{*}address"):
                e.text = "ASID:200000000888"
            endpoint.addnext(twin)
            break
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
