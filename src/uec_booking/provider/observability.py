"""Request log and metrics.

One JSON line per request on the `uec_booking.provider.access` logger: our request id, the
consumer's `X-Request-ID`, `Ssp-TraceID`, the caller's ASID/ODS/client (from the verified
token, else the Spine headers), interaction, status and latency. Prometheus metrics on
`/metrics` (prometheus-client): requests by interaction and status, latency histograms,
bookings, slot-taken refusals, store errors, slot-view lookups and builds. With several
workers (`serve provider --workers N`) each worker writes its samples to
`PROMETHEUS_MULTIPROC_DIR` and any worker's `/metrics` answers for all of them
(prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uec_booking.fhir.errors import FhirError, ServiceUnavailable, SlotUnavailable
from uec_booking.provider.slot_cache import ServiceSlots, SlotCache, ViewKey

access_log = logging.getLogger("uec_booking.provider.access")

REQUESTS = Counter(
    "uec_provider_requests_total", "Requests by interaction and status", ["interaction", "status"]
)
LATENCY = Histogram(
    "uec_provider_request_seconds",
    "Time to answer, by interaction",
    ["interaction"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BOOKINGS = Counter("uec_provider_bookings_total", "Appointments booked (201)")
SLOT_TAKEN = Counter(
    "uec_provider_slot_taken_total", "Bookings refused because the slot was no longer free"
)
STORE_ERRORS = Counter(
    "uec_provider_store_errors_total", "Requests answered 503 because the store failed"
)
SLOT_VIEW_LOOKUPS = Counter(
    "uec_provider_slot_view_lookups_total", "Slot searches answered from a worker's slot view"
)
SLOT_VIEW_BUILDS = Counter(
    "uec_provider_slot_view_builds_total",
    "Slot views (re)built from the tables; hits = lookups - builds",
)
SLOT_ANSWERS_REUSED = Counter(
    "uec_provider_slot_answers_reused_total",
    "Slot searches answered again whole from a view still current (a Bundle id of their own)",
)

_P = "/fhir/"


def interaction_of(method: str, path: str) -> str:
    """The interaction a request performs (a bounded set: it is a metric label)."""
    if not path.startswith(_P):
        return path if path in ("/_health", "/_ready", "/metrics") else "other"
    kind, _, rest = path[len(_P) :].partition("/")
    if kind == "metadata":
        return "read:metadata"
    if kind == "Slot":
        if method == "PUT":
            return "admin:update-slot"
        return "read:slot" if not rest else "read:directory"
    if kind == "Appointment":
        if method == "POST":
            return "create:appointment"
        if method == "PUT":
            return "update:appointment"
        return "read:appointment" if rest else "search:appointment"
    return "read:directory" if method == "GET" else "other"


def count_error(exc: FhirError) -> None:
    """Called by the app's error handler for every FhirError it answers."""
    if isinstance(exc, SlotUnavailable):
        SLOT_TAKEN.inc()
    elif isinstance(exc, ServiceUnavailable) and _from_store(exc):
        STORE_ERRORS.inc()


def _from_store(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and (
        isinstance(cause, OSError) or type(cause).__module__.startswith(("sqlalchemy", "asyncpg"))
    )


class ObservedSlotCache(SlotCache):
    """The slot cache, counting its lookups and builds."""

    async def view(self, service_id: str, lo: datetime, hi: datetime) -> ServiceSlots:
        SLOT_VIEW_LOOKUPS.inc()
        return await super().view(service_id, lo, hi)

    def count_reuse(self) -> None:
        super().count_reuse()
        SLOT_VIEW_LOOKUPS.inc()  # answered from a view too
        SLOT_ANSWERS_REUSED.inc()

    async def _build_and_keep(self, key: ViewKey, current: tuple[int, ...]) -> ServiceSlots:
        SLOT_VIEW_BUILDS.inc()
        return await super()._build_and_keep(key, current)


def configure_access_log() -> None:
    """INFO lines, bare JSON, to stderr, unless the host application configured the logger."""
    access_log.setLevel(logging.INFO)
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.propagate = False


class ObservabilityMiddleware:
    """Outermost: sees the final status and our `X-Request-ID`."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "id": None}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-request-id":
                        response["id"] = value
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            interaction = interaction_of(scope["method"], scope["path"])
            status = response["status"]
            REQUESTS.labels(interaction, str(status)).inc()
            LATENCY.labels(interaction).observe(elapsed)
            if status == 201 and interaction == "create:appointment":
                BOOKINGS.inc()
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info(_line(scope, interaction, status, response["id"], elapsed))


def _line(scope: Scope, interaction: str, status: int, ours: bytes | None, elapsed: float) -> str:
    headers = dict(scope["headers"])
    who = (scope.get("state") or {}).get("provenance")
    record = {
        "request_id": ours.decode() if ours else None,
        "correlation_id": _header(headers, b"x-request-id"),
        "trace_id": _header(headers, b"ssp-traceid"),
        "asid": getattr(who, "asid", None) or _header(headers, b"ssp-from"),
        "ods": getattr(who, "ods", None),
        "client_id": getattr(who, "client_id", None),
        "interaction": interaction,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "latency_ms": round(elapsed * 1000, 2),
    }
    return orjson.dumps(record).decode()


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value[:128].decode("latin-1") if value is not None else None


async def metrics(_request: Request) -> Response:
    """The Prometheus exposition: this worker's, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
