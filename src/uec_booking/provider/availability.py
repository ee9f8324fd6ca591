"""Availability templates: a provider's services, locations, practitioners, weekly sessions
and exceptions in one YAML or JSON file (format: `schema/availability.schema.json`, guide:
docs/AVAILABILITY.md), turned into Schedules and Slots.

`apply` is idempotent and one transaction: it adds the missing future slots up to the
horizon, withdraws the free future slots the template no longer covers (status
`entered-in-error`: kept, never offered, never bookable), brings back withdrawn ones it
covers again, and never touches a booked slot: those it reports. A template owns every slot
of the services it names. `HorizonRoller` re-applies it as days pass (`serve provider
--availability FILE`); on PostgreSQL an advisory lock lets one worker on one host do it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from uec_booking.fhir.urls import DELIVERY_CHANNEL_EXTENSION
from uec_booking.provider.search_dates import utc_naive
from uec_booking.provider.seed import WEEKDAYS, directory_resources, schedule_id
from uec_booking.provider.store import Store, audit, directory, slots
from uec_booking.provider.store.appointments import Provenance
from uec_booking.provider.store.slot_changes import (
    BLOCKED,
    FREE,
    WITHDRAWN,
    SlotState,
    change,
    lock_availability,
    slots_from,
)

log = logging.getLogger("uec_booking.provider.availability")

DEFAULT_HORIZON_DAYS = 28


class TemplateError(ValueError):
    """The template cannot be used; the message is one sentence naming where and why."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `20:30` as the number 1230 (base 60) and `2026-12-25` as a date: here
    times and dates stay the strings the schema describes; plain decimals stay numbers."""


_DROPPED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("uec_booking.provider").joinpath("schema/availability.schema.json")
    return dict(json.loads(text.read_text("utf-8")))


def load_template(path: Path) -> dict[str, Any]:
    """The template in `path` (`.json`, else YAML), validated; or TemplateError."""
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.load(raw, _Loader)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(f"{path} is not readable YAML or JSON: {reason}") from exc
    validate(data, source=str(path))
    return dict(data)


def validate(data: Any, *, source: str = "template") -> None:
    """Check `data` against the schema, then what a schema cannot say (references, order)."""
    validator = jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
        raise TemplateError(f"{source}: at {where}: {errors[0].message}")
    try:
        ZoneInfo(data.get("timezone", "Europe/London"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateError(f"{source}: unknown timezone {data.get('timezone')!r}") from exc
    locations = _unique(data.get("locations", []), "location", source)
    practitioners = _unique(data.get("practitioners", []), "practitioner", source)
    services = _unique(data["services"], "service", source)
    for service in data["services"]:
        name = f"{source}: service {service['id']}"
        if service.get("location") and service["location"] not in locations:
            raise TemplateError(f"{name} names location {service['location']}, not listed")
        for prac in service["practitioners"]:
            if prac not in practitioners:
                raise TemplateError(f"{name} names practitioner {prac}, not listed")
        for i, session in enumerate(service["sessions"]):
            if session["start"] >= session["end"]:
                raise TemplateError(f"{name}: session {i + 1} ends before it starts")
            for prac in session.get("practitioners", []):
                if prac not in service["practitioners"]:
                    raise TemplateError(f"{name}: session {i + 1} names {prac}, not the service's")
    for i, exception in enumerate(data.get("exceptions", [])):
        name = f"{source}: exception {i + 1} ({exception['reason']})"
        if exception.get("from", "") > exception.get("to", ""):
            raise TemplateError(f"{name} ends before it starts")
        if exception.get("start", "") >= exception.get("end", "~"):
            raise TemplateError(f"{name} ends before it starts")
        for sid in exception.get("services", []):
            if sid not in services:
                raise TemplateError(f"{name} names service {sid}, not in the template")
        for prac in exception.get("practitioners", []):
            if prac not in practitioners:
                raise TemplateError(f"{name} names practitioner {prac}, not listed")


def _unique(items: list[dict[str, Any]], kind: str, source: str) -> set[str]:
    seen: set[str] = set()
    for item in items:
        if item["id"] in seen:
            raise TemplateError(f"{source}: {kind} {item['id']} is listed twice")
        seen.add(item["id"])
    return seen


def zone_of(template: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(template.get("timezone", "Europe/London"))


def as_sample(template: dict[str, Any]) -> dict[str, Any]:
    """The template in the sample directory's shape, so that its directory resources (and
    Schedule ids) are the ones `seed` writes."""
    org = template["organization"]
    return {
        "organizations": [org],
        "locations": template.get("locations", []),
        "practitioners": [
            {"prefix": [], "gender": "unknown", **p} for p in template.get("practitioners", [])
        ],
        "healthcare_services": [
            {
                **{k: s[k] for k in ("id", "name", "type", "phone")},
                "organization": org["id"],
                "location": s.get("location"),
                "availability": {"practitioners": s["practitioners"]},
            }
            for s in template["services"]
        ],
    }


@dataclass(frozen=True, slots=True)
class DesiredSlot:
    id: str
    schedule_id: str
    healthcare_service_id: str
    start: datetime  # naive UTC, as stored
    end: datetime
    extra: dict[str, Any] | None


def _closed(
    exceptions: list[dict[str, Any]], service: str, prac: str, start: datetime, end: datetime
) -> bool:
    day = start.date().isoformat()
    for ex in exceptions:
        if not (ex.get("date") == day or ex.get("from", "~") <= day <= ex.get("to", "")):
            continue
        if service not in ex.get("services", [service]):
            continue
        if prac not in ex.get("practitioners", [prac]):
            continue
        if "start" not in ex or (
            start.time() < time.fromisoformat(ex["end"])
            and end.time() > time.fromisoformat(ex["start"])
        ):
            return True
    return False


def expand(template: dict[str, Any], first_day: date, last_day: date) -> dict[str, DesiredSlot]:
    """Every slot the template describes on the local days `first_day` to `last_day`."""
    zone = zone_of(template)
    exceptions = template.get("exceptions", [])
    out: dict[str, DesiredSlot] = {}
    for service in template["services"]:
        channel = service.get("delivery_channel")
        extra = (
            {"extension": [{"url": DELIVERY_CHANNEL_EXTENSION, "valueCode": channel}]}
            if channel
            else None
        )
        day = first_day
        while day <= last_day:
            weekday = WEEKDAYS[day.weekday()]
            for session in service["sessions"]:
                if weekday not in session["days"]:
                    continue
                length = timedelta(minutes=session.get("slot_minutes", service["slot_minutes"]))
                # Wall-clock arithmetic in the zone: sessions keep their local hours across
                # clock changes; the store gets UTC.
                start = datetime.combine(day, time.fromisoformat(session["start"]), zone)
                close = datetime.combine(day, time.fromisoformat(session["end"]), zone)
                while start + length <= close:
                    end = start + length
                    for prac in session.get("practitioners", service["practitioners"]):
                        if _closed(exceptions, service["id"], prac, start, end):
                            continue
                        sched = schedule_id(service["id"], prac)
                        sid = f"{sched}-{start.strftime('%Y%m%d%H%M')}"
                        out[sid] = DesiredSlot(
                            sid, sched, service["id"], utc_naive(start), utc_naive(end), extra
                        )
                    start = end
            day += timedelta(days=1)
    return out


@dataclass
class ApplyReport:
    directory_written: int = 0
    added: int = 0
    withdrawn: int = 0
    restored: int = 0
    changed: int = 0
    unchanged: int = 0
    blocked_kept: int = 0
    # Booked slots the template no longer describes: left as they are, for staff to handle.
    booked_outside: list[SlotState] = field(default_factory=list)
    horizon_end: datetime | None = None


async def apply(
    store: Store,
    template: dict[str, Any],
    *,
    now: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    wait: bool = True,
    who: Provenance | None = None,
) -> ApplyReport | None:
    """Make the store's future slots of the template's services what the template says,
    up to `horizon_days` local days from `now`'s. None when `wait` is False and another
    worker holds the availability lock."""
    zone = zone_of(template)
    today = now.astimezone(zone).date()
    last_day = today + timedelta(days=horizon_days - 1)
    from_ = utc_naive(now)
    horizon_end = utc_naive(datetime.combine(last_day + timedelta(days=1), time(0), zone))
    report = ApplyReport(horizon_end=horizon_end)
    async with store.write() as session:
        if not await lock_availability(session, wait=wait):
            return None
        for resource in directory_resources(as_sample(template)):
            report.directory_written += await directory.upsert(session, resource)
        existing = await slots_from(
            session, service_ids=[s["id"] for s in template["services"]], start_ge=from_
        )
        # Slots made under a longer horizon are judged by the template too.
        latest = max((s.start for s in existing), default=from_)
        expand_to = max(last_day, latest.replace(tzinfo=UTC).astimezone(zone).date())
        desired = {k: d for k, d in expand(template, today, expand_to).items() if d.start >= from_}
        by_id = {s.id: s for s in existing}
        report.added = await slots.insert_missing(
            session,
            [
                {
                    "id": d.id,
                    "schedule_id": d.schedule_id,
                    "healthcare_service_id": d.healthcare_service_id,
                    "start": d.start,
                    "end": d.end,
                    "extra": d.extra,
                }
                for d in desired.values()
                if d.id not in by_id and d.start < horizon_end
            ],
        )
        for slot in existing:
            await _reconcile(session, slot, desired.get(slot.id), report)
        if report.added or report.withdrawn or report.restored or report.changed:
            await audit.record(
                session,
                interaction="admin:availability-apply",
                status_code=200,
                who=who or Provenance(client_id="availability"),
                detail=f"{report.added} added, {report.withdrawn} withdrawn, "
                f"{report.restored} restored, {report.changed} changed, "
                f"{len(report.booked_outside)} booked outside; horizon to {horizon_end}Z",
            )
    return report


async def _reconcile(
    session: Any, slot: SlotState, wanted: DesiredSlot | None, report: ApplyReport
) -> None:
    if wanted is None:
        if slot.status == FREE:
            if await change(session, slot, expect=(FREE,), status=WITHDRAWN) is not None:
                report.withdrawn += 1
                return
            report.booked_outside.append(slot)  # booked while we looked
        elif slot.status == BLOCKED:
            report.blocked_kept += 1
        elif slot.status != WITHDRAWN:
            report.booked_outside.append(slot)
        return
    same = (slot.start, slot.end, slot.extra) == (wanted.start, wanted.end, wanted.extra)
    if slot.status == WITHDRAWN:
        moved = await change(
            session,
            slot,
            expect=(WITHDRAWN,),
            status=FREE,
            start=wanted.start,
            end=wanted.end,
            extra=wanted.extra,
        )
        report.restored += moved is not None
    elif same:
        report.unchanged += 1
    elif slot.status == FREE:
        moved = await change(
            session, slot, expect=(FREE,), start=wanted.start, end=wanted.end, extra=wanted.extra
        )
        report.changed += moved is not None
    elif slot.status == BLOCKED:
        report.blocked_kept += 1
    else:
        report.booked_outside.append(slot)


@dataclass(eq=False)
class HorizonRoller:
    """Re-applies the template every `interval_s` so the horizon keeps `horizon_days` ahead.
    The file is read each time: an edited template takes effect at the next roll."""

    store: Store
    path: Path
    _: KW_ONLY
    horizon_days: int = DEFAULT_HORIZON_DAYS
    interval_s: float = 3600.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # One roll at a time in this process (SQLite's case).
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def roll_once(self) -> ApplyReport | None:
        async with self._lock:
            template = load_template(self.path)
            report = await apply(
                self.store, template, now=self.clock(), horizon_days=self.horizon_days, wait=False
            )
        if report is None:
            log.info("availability: another worker is rolling the horizon")
        else:
            log.info(
                "availability: %d added, %d withdrawn, %d booked outside the template",
                report.added,
                report.withdrawn,
                len(report.booked_outside),
            )
        return report

    async def run(self) -> None:
        while True:
            try:
                await self.roll_once()
            except Exception:  # a bad edit must not stop the provider; it says why each time
                log.exception("availability: rolling the horizon from %s failed", self.path)
            await asyncio.sleep(self.interval_s)
