"""The case registry and what every case shares: the context (wire, free slots found,
bookings to undo) and the assertions the kit's PASSFAIL sections make again and again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

from uec_booking.check.model import CaseResult
from uec_booking.check.wire import JSON, Response, Target, Wire
from uec_booking.fhir.interactions import Interaction

KIT = "nhsdigitalmait/FHIR_111_UEC autotest_config/tstp/"
WORKBOOK = "nhsd-a2si/docs-uec-appts Care_Connect_Provider_Assurance_Test_Scripts.xlsx "
PAGES = "nhsd-a2si/docs-uec-appts _pages/functional_spec/"
INCLUDES = (
    "&_include=Slot%3Aschedule&_include=Schedule%3Aactor%3APractitioner"
    "&_include=Schedule%3Aactor%3APractitionerRole&_include=Schedule%3Aactor%3AHealthcareService"
    "&_include=HealthcareService.location&_include=HealthcareService.providedBy"
)

CaseFunc = Callable[["Ctx", CaseResult], Awaitable[None]]
SlotCaseFunc = Callable[["Ctx", CaseResult, dict[str, Any]], Awaitable[None]]
NO_FREE_SLOT = "no free Slot left in the window: give a service with more free slots"


@dataclass(frozen=True)
class Precondition:
    """What the provider under test must have been said to do for a case to be run at all;
    a case whose precondition fails is skipped with `reason`."""

    holds: Callable[[Target], bool]
    reason: str

    def because(self, reason: str) -> Precondition:
        return Precondition(self.holds, reason)


TOKEN_CHECKS = Precondition(
    lambda target: target.auth != "none",
    "--auth none: the provider under test was said to run without token checks",
)
INTERIM = Precondition(lambda target: target.auth == "interim", "interim mode only")


@dataclass(frozen=True)
class CaseSpec:
    case_id: str
    title: str
    source: str
    func: CaseFunc
    books: bool = False  # needs free slots of its own
    requires: tuple[Precondition, ...] = ()

    def unmet(self, target: Target) -> str | None:
        """Why this case cannot be run against `target`, or None when it can."""
        return next((p.reason for p in self.requires if not p.holds(target)), None)


CASES: list[CaseSpec] = []


def case(
    case_id: str,
    title: str,
    source: str,
    *,
    books: bool = False,
    requires: tuple[Precondition, ...] = (),
) -> Callable[[CaseFunc], CaseFunc]:
    def register(func: CaseFunc) -> CaseFunc:
        CASES.append(CaseSpec(case_id, title, source, func, books, requires))
        return func

    return register


def booking_case(
    case_id: str, title: str, source: str, *, requires: tuple[Precondition, ...] = ()
) -> Callable[[SlotCaseFunc], SlotCaseFunc]:
    """A case that books: it is handed a Slot this run found free and has not used (the
    checker books only those), and is skipped when none is left."""

    def register(func: SlotCaseFunc) -> SlotCaseFunc:
        async def with_slot(ctx: Ctx, result: CaseResult) -> None:
            slot = ctx.claim_slot()
            if slot is None:
                result.skip(NO_FREE_SLOT)
            else:
                await func(ctx, result, slot)

        CASES.append(CaseSpec(case_id, title, source, with_slot, True, requires))
        return func

    return register


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class Ctx:
    wire: Wire
    target: Target
    window: tuple[datetime, datetime]
    free: list[dict[str, Any]] = field(default_factory=list)  # Slots found free, not yet used
    booked: dict[str, str] = field(default_factory=dict)  # appointment id -> status
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def search_path(
        self,
        *,
        service: str | None = None,
        status: str = "free",
        includes: bool = True,
        window: tuple[datetime, datetime] | None = None,
        extra: str = "",
    ) -> str:
        start, end = window or self.window
        return (
            f"/Slot?schedule.actor%3Ahealthcareservice={quote(service or self.target.service)}"
            f"&start=ge{quote(instant(start))}&start=le{quote(instant(end))}"
            f"&status={status}{INCLUDES if includes else ''}{extra}"
        )

    async def search(
        self,
        result: CaseResult,
        *,
        token: str | bool | None = True,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        path: str | None = None,
        body: bytes | None = None,
        **kw: Any,
    ) -> Response:
        """The standard's Slot search (at `path`, else `search_path(**kw)`), with `token`
        (True: a valid one) and `headers` (by default, Accept: JSON)."""
        return await self.wire.send(
            result,
            method,
            path or self.search_path(**kw),
            interaction=Interaction.READ_SLOT,
            token=token,
            headers={"Accept": JSON} if headers is None else headers,
            body=body,
        )

    def note_booking(self, resp: Response) -> str | None:
        """Remember an appointment this run made, so that it is cancelled at the end."""
        res = resp.resource() if resp.status == 201 else None
        appointment_id = res.get("id") if res else None
        if isinstance(appointment_id, str):
            self.booked[appointment_id] = res.get("status", "") if res else ""
        return appointment_id if isinstance(appointment_id, str) else None

    def claim_slot(self) -> dict[str, Any] | None:
        """A Slot this run found free and has not used: the checker books only those."""
        return self.free.pop(0) if self.free else None

    def release_unless_booked(self, slot: dict[str, Any], resp: Response) -> None:
        """A Slot the answer did not book is free still: the next case may book it."""
        if resp.status != 201:
            self.free.append(slot)


async def post(
    ctx: Ctx,
    result: CaseResult,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    token: str | bool | None = True,
    gzip_body: bool = False,
    request_id: str | None = None,
) -> Response:
    """Book (POST an Appointment), noting what it booked so that the run cancels it."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await ctx.wire.send(
        result,
        "POST",
        "/Appointment",
        interaction=Interaction.CREATE_APPOINTMENT,
        token=token,
        headers={"Accept": JSON, "Content-Type": JSON, **(headers or {})},
        body=raw,
        gzip_body=gzip_body,
        request_id=request_id,
    )
    ctx.note_booking(resp)
    return resp


def resource_type(result: CaseResult, resp: Response, expected: str) -> dict[str, Any] | None:
    res = resp.resource()
    observed = res.get("resourceType") if res else f"no FHIR resource ({resp.media or 'no type'})"
    result.expect(f"Response is a {expected}", expected, observed, observed == expected)
    return res if observed == expected else None


def status(result: CaseResult, resp: Response, *expected: int) -> bool:
    want = " or ".join(str(s) for s in expected)
    return result.expect(
        f"HTTP {want}", f"HTTP {want}", f"HTTP {resp.status}", resp.status in expected
    )


def outcome(result: CaseResult, resp: Response, *expected: int) -> dict[str, Any] | None:
    """An error answer: the status, and an OperationOutcome with id, issue severity and code
    (P36, er_errorhandling: every 4xx/5xx carries one)."""
    status(result, resp, *expected)
    res = resource_type(result, resp, "OperationOutcome")
    if res is not None:
        issues = res.get("issue") or []
        complete = (
            bool(res.get("id"))
            and bool(issues)
            and all(i.get("severity") and i.get("code") for i in issues)
        )
        result.expect(
            "OperationOutcome has id, issue severity and code (P36)",
            "id + issue.severity + issue.code",
            "complete" if complete else res,
            complete,
        )
    return res


def media(result: CaseResult, resp: Response, fmt: str) -> None:
    want = f"application/fhir+{fmt}"
    result.expect(
        f"Response has fhir {fmt} Content-type", want, resp.media or "none", resp.media == want
    )


def gzipped(result: CaseResult, resp: Response) -> None:
    enc = (resp.header("content-encoding") or "none").lower()
    result.expect(
        "Response was gzip encoded (UECABS-153)", "Content-Encoding: gzip", enc, enc == "gzip"
    )


def bearer_challenge(result: CaseResult, resp: Response, error: str) -> None:
    challenge = resp.header("www-authenticate") or "none"
    ok = challenge.lower().startswith("bearer") and f'error="{error}"' in challenge
    result.expect(
        "WWW-Authenticate names the RFC 6750 error", f'Bearer error="{error}"', challenge, ok
    )


def entries(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == kind
    ]


def default_window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now + timedelta(minutes=5), now + timedelta(days=3)
