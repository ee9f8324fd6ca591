"""Slot-search cases: the test kit's EB_SearchForFreeSlots chains, with the provider
assurance scripts' checks on what a search returns."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from uec_booking.check.model import CaseResult
from uec_booking.check.registry import (
    KIT,
    PAGES,
    WORKBOOK,
    Ctx,
    case,
    entries,
    gzipped,
    media,
    outcome,
    resource_type,
    status,
)
from uec_booking.check.wire import JSON, XML
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import SDS_ROLE_PROFILE_SYSTEM

SFFS = KIT + "EB_SearchForFreeSlots.tstp"


async def _bundle(
    ctx: Ctx, result: CaseResult, *, ok: bool = False, **search: Any
) -> dict[str, Any] | None:
    """The search's answer, expected to be a Bundle (and, where `ok`, HTTP 200 first): the
    Bundle, or None when it is not one."""
    resp = await ctx.search(result, **search)
    if ok:
        status(result, resp, 200)
    return resource_type(result, resp, "Bundle")


BundleCheck = Callable[[CaseResult, dict[str, Any]], None]


def _bundle_case(
    case_id: str, title: str, source: str, **search: Any
) -> Callable[[BundleCheck], BundleCheck]:
    """A case that checks the Bundle a free-slot search (`search`: `Ctx.search`'s arguments)
    answers: the check is handed the Bundle, and not run when the answer is not one."""

    def register(check: BundleCheck) -> BundleCheck:
        @case(case_id, title, source)
        async def run(ctx: Ctx, result: CaseResult) -> None:
            bundle = await _bundle(ctx, result, **search)
            if bundle is not None:
                check(result, bundle)

        return check

    return register


def _valid_search(
    case_id: str, extra: str, accept: str | None, fmt: str, slot_checks: bool
) -> None:
    @case(
        case_id,
        f"Free slots, format by {'_format' if extra else 'Accept'} ({fmt})",
        SFFS + "; " + WORKBOOK + "CConnect-ApptTest_8 (P9), _13 (P23)",
    )
    async def run(ctx: Ctx, result: CaseResult) -> None:
        headers = {"Accept": accept} if accept else {}
        resp = await ctx.search(result, headers=headers, extra=extra)
        status(result, resp, 200)
        media(result, resp, fmt)
        bundle = resource_type(result, resp, "Bundle")
        if bundle is None:
            return
        total = bundle.get("total")
        result.expect(
            "Search count is greater than zero (Bundle.total)",
            "total > 0",
            total,
            isinstance(total, int) and total > 0,
        )
        if slot_checks:
            slots = entries(bundle, "Slot")
            not_free = [s.get("id") for s in slots if s.get("status") != "free"]
            result.expect(
                "All Slots free (P-CRT-RES-RET-SLOT-STAT-FREE)",
                "none",
                not_free or "none",
                not not_free,
            )
            start, end = ctx.window
            outside = [
                s.get("id") for s in slots if not start <= datetime.fromisoformat(s["start"]) <= end
            ]
            result.expect(
                "Slots meet the time constraints (P23)",
                "none outside",
                outside or "none",
                not outside,
            )


_valid_search("SFFSWithValidParameters_parameter_json", "&_format=json", None, "json", False)
_valid_search("SFFSWithValidParameters_header_json", "", JSON, "json", False)
_valid_search("SFFSWithValidParameters_parameter_xml", "&_format=xml", None, "xml", True)
_valid_search("SFFSWithValidParameters_header_xml", "", XML, "xml", False)


@case(
    "SFFSWithValidParameters_JWT_NoPractitioner",
    "Free slots with a token without requesting_practitioner",
    SFFS + "; " + PAGES + "fs_authentication.md",
)
async def no_practitioner(ctx: Ctx, result: CaseResult) -> None:
    token: str | bool = True
    if ctx.target.auth == "interim":
        token = ctx.wire.interim(Interaction.READ_SLOT, drop=("requesting_practitioner",))
    bundle = await _bundle(ctx, result, ok=True, token=token)
    if bundle is not None:
        result.expect(
            "Search count is greater than zero",
            "total > 0",
            bundle.get("total"),
            (bundle.get("total") or 0) > 0,
        )


@case(
    "SFFSWithValidParameters_includes",
    "Included resources for every reference (P19-P22), once each (P11-P13)",
    SFFS + "; " + WORKBOOK + "CConnect-ApptTest_10 (P11-P13), _12 (P19)",
)
async def includes(ctx: Ctx, result: CaseResult) -> None:
    bundle = await _bundle(ctx, result, ok=True)
    if bundle is None:
        return
    ids = {
        (k, r.get("id"))
        for k in (
            "Practitioner",
            "PractitionerRole",
            "HealthcareService",
            "Organization",
            "Location",
            "Schedule",
        )
        for r in entries(bundle, k)
    }
    schedules = entries(bundle, "Schedule")
    refs = [a.get("reference", "") for s in schedules for a in s.get("actor") or []]
    missing = [
        r
        for r in refs
        if r.split("/")[0] in ("Practitioner", "HealthcareService")
        and tuple(r.split("/", 1)) not in ids
    ]
    result.expect(
        "Referenced Practitioners and HealthcareServices returned (P19, P22)",
        "none missing",
        missing or "none",
        not missing,
    )
    without_hcs = [
        s.get("id")
        for s in schedules
        if not any(
            a.get("reference", "").startswith("HealthcareService/") for a in s.get("actor") or []
        )
    ]
    result.expect(
        "Every Schedule has a HealthcareService actor (P13)",
        "all",
        without_hcs or "all",
        not without_hcs,
    )
    keys = [
        (e["resource"]["resourceType"], e["resource"].get("id")) for e in bundle.get("entry") or []
    ]
    dupes = sorted({f"{t}/{i}" for t, i in keys if keys.count((t, i)) > 1})
    result.expect("Each resource included once (P12)", "no duplicates", dupes or "none", not dupes)
    slots = entries(bundle, "Slot")
    result.expect("Search count is greater than zero", "Slots > 0", len(slots), bool(slots))
    scheduled = {("Schedule", s.get("id")) for s in schedules}
    unscheduled = [
        s.get("id")
        for s in slots
        if tuple((s.get("schedule") or {}).get("reference", "/").split("/", 1)) not in scheduled
    ]
    result.expect(
        "Slot:schedule included for every Slot", "all", unscheduled or "all", not unscheduled
    )


@_bundle_case(
    "CConnect-ApptTest_11",
    "Every Slot: CareConnect-Slot-1 profile, Schedule, start, end, status free (P14)",
    WORKBOOK + "CConnect-ApptTest_11 (P14)",
)
def slot_shape(result: CaseResult, bundle: dict[str, Any]) -> None:
    bad = [
        s.get("id")
        for s in entries(bundle, "Slot")
        if "https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Slot-1"
        not in (s.get("meta") or {}).get("profile", [])
        or not (s.get("schedule") or {}).get("reference")
        or not s.get("start")
        or not s.get("end")
        or s.get("status") != "free"
    ]
    result.expect("All Slots complete", "none incomplete", bad or "none", not bad)
    result.expect(
        "search.mode match for Slots",
        "match",
        "checked",
        all(
            (e.get("search") or {}).get("mode") == "match"
            for e in bundle.get("entry") or []
            if e["resource"]["resourceType"] == "Slot"
        ),
    )


@_bundle_case(
    "UEC-SLOT-IDENTIFIER",
    "Every Slot carries an identifier (the kit's contained Slot sends it back)",
    KIT + "../requests/book_appt.xml (Slot.identifier); " + PAGES + "fs_fhir_overrides.md",
    includes=False,
)
def slot_identifier(result: CaseResult, bundle: dict[str, Any]) -> None:
    bare = [s.get("id") for s in entries(bundle, "Slot") if not s.get("identifier")]
    result.expect("Slot.identifier present", "all Slots", bare or "all", not bare)


@_bundle_case(
    "UEC-TIMES",
    "Times are instants with milliseconds and an offset",
    PAGES + "fs_times.md",
    includes=False,
)
def times(result: CaseResult, bundle: dict[str, Any]) -> None:
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
    bad = [
        v
        for s in entries(bundle, "Slot")
        for v in (s.get("start"), s.get("end"))
        if not isinstance(v, str) or not pattern.match(v)
    ]
    result.expect("start/end like 2026-01-01T09:00:00.000+00:00", "all", bad[:3] or "all", not bad)


@case(
    "SFFSNoSlots_HappyPath",
    "No slots in the window: 200 and an empty Bundle, total 0",
    SFFS + " (the kit uses a service without slots; a window a year ahead here)",
)
async def no_slots(ctx: Ctx, result: CaseResult) -> None:
    far = datetime.now(UTC) + timedelta(days=400)
    bundle = await _bundle(ctx, result, ok=True, window=(far, far + timedelta(days=1)))
    if bundle is not None:
        result.expect(
            "Search count is zero", "total 0", bundle.get("total"), bundle.get("total") == 0
        )


def _refused_search(
    case_id: str, title: str, source: str, expected: int, search: Callable[[Ctx], dict[str, Any]]
) -> None:
    """A Slot search the provider must refuse with `expected` and an OperationOutcome;
    `search` gives `Ctx.search`'s arguments (at run time: windows are relative to now)."""

    @case(case_id, title, source)
    async def run(ctx: Ctx, result: CaseResult) -> None:
        outcome(result, await ctx.search(result, **search(ctx)), expected)


def _past_window(ctx: Ctx) -> dict[str, Any]:
    past = datetime.now(UTC) - timedelta(days=10)
    return {"window": (past, past + timedelta(days=1))}


_refused_search(
    "SFFSInvalid",
    "Invalid query (startXXXXXXX=…) under Prefer: handling=strict → 400",
    SFFS + "; the lenient default ignores unknown parameters (FHIR), so strict handling is asked",
    400,
    lambda ctx: {
        "path": ctx.search_path().replace("&start=ge", "&startXXXXXXX=ge", 1),
        "headers": {"Accept": JSON, "Prefer": "handling=strict"},
    },
)
_refused_search(
    "UEC-SEARCH-PAST",
    "A window wholly in the past → 400",
    PAGES + "fs_slotmanagement.md; DESIGN slot search",
    400,
    _past_window,
)
_refused_search(
    "CConnect-ApptTest_9",
    "Unknown HealthcareService → 404 (P10)",
    WORKBOOK + "CConnect-ApptTest_9 (P10)",
    404,
    lambda ctx: {"service": "9999999999"},
)
_refused_search(
    "SFFSWrongMethod",
    "POST to the Slot search URL → 405",
    SFFS,
    405,
    lambda ctx: {"method": "POST", "headers": {"Accept": JSON, "Content-Type": JSON}, "body": b""},
)


def _lenient_search(
    case_id: str, title: str, status_value: str, includes: bool, extra: str = "", gzip: bool = False
) -> None:
    @case(case_id, title, SFFS)
    async def run(ctx: Ctx, result: CaseResult) -> None:
        headers = {"Accept": JSON}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        resp = await ctx.search(
            result, headers=headers, status=status_value, includes=includes, extra=extra
        )
        status(result, resp, 200)
        resource_type(result, resp, "Bundle")
        if gzip:
            gzipped(result, resp)


_lenient_search("SFFSWithBusySlots", "status=busy → 200 Bundle", "busy", True)
_lenient_search("SFFSWithNoIncludes", "No _include → 200 Bundle (UECABS-139)", "free", False)
_lenient_search(
    "SFFSWithFreeAndBusySlots", "status=free,busy → 200 Bundle (UECABS-140)", "free%2Cbusy", True
)
_lenient_search(
    "SFFSWithFreeSlotsWithRevIncludes",
    "Five _revinclude → 200 Bundle (UECABS-144)",
    "free",
    True,
    "&_revinclude=Slot%3Aschedule&_revinclude=Schedule%3Aactor%3APractitioner"
    "&_revinclude=Schedule%3Aactor%3APractitionerRole&_revinclude=Schedule%3Aactor%3AHealthcareService"
    "&_revinclude=HealthcareService.location&_revinclude=HealthcareService.providedBy",
)
_lenient_search(
    "SFFSWithFreeSlotsWithGzipEncoding",
    "Accept-Encoding gzip → gzip Bundle (UECABS-153)",
    "free",
    True,
    gzip=True,
)


@_bundle_case(
    "SFFSPractitionerRolesReturned",
    "A PractitionerRole for each Practitioner's role profile (P20)",
    SFFS + " practitioner_roles_returned; " + WORKBOOK + "CConnect-ApptTest_12 (P19-P21)",
)
def practitioner_roles(result: CaseResult, bundle: dict[str, Any]) -> None:
    # The kit's XPath: count(PractitionerRole whose id is a Practitioner's
    # sds-role-profile-id) = count(Practitioner).
    practitioners = entries(bundle, "Practitioner")
    roles = {r.get("id") for r in entries(bundle, "PractitionerRole")}
    matched = [
        i.get("value")
        for p in practitioners
        for i in p.get("identifier") or []
        if i.get("system") == SDS_ROLE_PROFILE_SYSTEM and i.get("value") in roles
    ]
    result.expect(
        "roles returned = Practitioners",
        f"{len(practitioners)} PractitionerRoles named by role profile ids",
        len(matched),
        len(matched) == len(practitioners),
    )
