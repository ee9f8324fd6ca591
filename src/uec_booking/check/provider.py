"""`check provider`: find free Slots, run every registered case against the provider under
test in order, then cancel whatever the run booked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from uec_booking.check import cases_auth, cases_cancel, cases_capability, cases_read, cases_write  # noqa: F401  (register)
from uec_booking.check.model import CaseResult, Outcome, Report
from uec_booking.check.registry import CASES, Ctx, default_window, entries
from uec_booking.check.wire import CannotForge, NoToken, Planned, Target, Wire


def case_ids() -> list[str]:
    return [spec.case_id for spec in CASES]


def _placeholder_slots(n: int) -> list[dict[str, Any]]:
    """Stand-ins for the Slots a real run would find, so --dry-run can show each body."""
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return [
        {
            "resourceType": "Slot",
            "id": f"free-slot-{i + 1}",
            "schedule": {"reference": "Schedule/found-by-search"},
            "start": (first + timedelta(minutes=15 * i)).isoformat(),
            "end": (first + timedelta(minutes=15 * (i + 1))).isoformat(),
            "status": "free",
        }
        for i in range(n)
    ]


async def _discover(ctx: Ctx, report: Report) -> None:
    """The kit's SFFSWithValidParameters_3_days step before each booking chain: the Slots
    found free are the only ones the run books into."""
    result = CaseResult(
        "discovery", "Free Slots to book into", "EB_Common.tstp SFFSWithValidParameters_3_days"
    )
    try:
        resp = await ctx.search(result, includes=False)
    except Planned:
        ctx.free = _placeholder_slots(40)
        return
    except httpx.TransportError as exc:
        raise ValueError(f"the provider at {ctx.target.base_url} is unreachable: {exc}") from exc
    bundle = resp.resource() if resp.status == 200 else None
    soon = datetime.now(UTC) + timedelta(minutes=30)
    slots = [
        s
        for s in entries(bundle or {}, "Slot")
        if s.get("status") == "free" and _starts_after(s, soon)
    ]
    ctx.free = sorted(slots, key=lambda s: str(s.get("start")))
    needed = sum(2 if spec.books else 0 for spec in CASES)
    if len(ctx.free) < needed:
        report.notes.append(
            f"only {len(ctx.free)} free Slots in the window (about {needed} wanted): "
            "booking cases beyond them are skipped"
        )


def _starts_after(slot: dict[str, Any], moment: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(slot["start"])) >= moment
    except (KeyError, ValueError):
        return False


async def run_provider_checks(target: Target, *, only: list[str] | None = None) -> Report:
    report = Report("UEC Appointments provider conformance", target.base_url)
    report.notes.append(f"auth mode: {target.auth}; service: {target.service}")
    specs = [s for s in CASES if not only or s.case_id in only]
    async with Wire(target) as wire:
        ctx = Ctx(wire, target, default_window())
        await _discover(ctx, report)
        for spec in specs:
            result = CaseResult(spec.case_id, spec.title, spec.source)
            try:
                unmet = spec.unmet(target)
                if unmet is None:
                    await spec.func(ctx, result)
                else:
                    result.skip(unmet)
            except Planned:
                result.outcome = Outcome.PLANNED
            except CannotForge as exc:
                result.skip(str(exc))
            except NoToken as exc:
                result.expect("a token for the checker", "a token", str(exc), False)
            except httpx.HTTPError as exc:
                result.expect(
                    "the provider answers", "an HTTP answer", f"{type(exc).__name__}: {exc}", False
                )
            report.cases.append(result)
        if ctx.booked and not target.dry_run:
            result = CaseResult("cleanup", "Cancel what this run booked", "uec-booking check")
            try:
                await cases_cancel.cleanup(ctx, result)
            except httpx.HTTPError as exc:
                result.expect("the provider answers", "an HTTP answer", str(exc), False)
            report.cases.append(result)
    return report
