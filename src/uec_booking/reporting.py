"""The standard's reporting metrics (fs_reporting.md): rep-cons-01..14 from the consumer's
journal, rep-prov-01..14 from the provider's store. A metric one side cannot see is reported
as such, not guessed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REQUIREMENTS = {
    "01": "Appointments successfully booked",
    "02": "Appointments booked vs successful referrals",
    "03": "Appointments booked and appointment slots available",
    "04": "Appointments booked and slots available that would not cause a breach (by disposition)",
    "05": "Appointments booked and slots available that would cause a breach (by disposition)",
    "06": "Appointments not booked vs successful referrals",
    "07": "Not booked, no slots presented, referral made",
    "08": "Not booked, slots presented, referral made",
    "09": "Not booked, slots presented but all would breach, referral made",
    "10": "Booking failed because the offered slot was no longer available",
    "11": "User rejected the top DoS entry although it could be booked",
    "12": "User tried to book and got an error",
    "13": "Booked, then cancelled",
    "14": "Booked, then re-booked",
}


@dataclass
class Metric:
    id: str
    requirement: str
    figures: dict[str, Any] = field(default_factory=dict)
    available: bool = True
    # What this side cannot see of the requirement, and why.
    note: str = ""

    def summary(self) -> str:
        if not self.available:
            return "not visible to this side" + (f": {self.note}" if self.note else "")
        text = ", ".join(f"{k}: {v}" for k, v in self.figures.items())
        return f"{text} ({self.note})" if self.note else text


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def consumer_metrics(rows: list[dict[str, Any]]) -> list[Metric]:
    """rep-cons-01..14 from journal rows (one booking journey per trace id)."""
    journeys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        journeys[r["trace_id"]].append(r)
    count: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        count[r["kind"]] += 1
    booked_journeys = {t for t, evs in journeys.items() if any(e["kind"] == "booked" for e in evs)}
    referral_only = {
        t
        for t, evs in journeys.items()
        if t not in booked_journeys and any(e["kind"] == "referral" for e in evs)
    }
    referrals = len(booked_journeys) + len(referral_only)

    def first_search(evs: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((e for e in evs if e["kind"] == "slots_shown"), None)

    slots_total = sum((first_search(evs) or {}).get("slots") or 0 for evs in journeys.values())
    by_disposition: dict[str, dict[str, int]] = defaultdict(
        lambda: {"booked": 0, "in_time": 0, "breach": 0}
    )
    for evs in journeys.values():
        search = first_search(evs)
        disposition = next((e["disposition"] for e in evs if e.get("disposition")), "?")
        if search:
            in_time = search.get("slots_in_time") or 0
            by_disposition[disposition]["in_time"] += in_time
            by_disposition[disposition]["breach"] += (search.get("slots") or 0) - in_time
        by_disposition[disposition]["booked"] += sum(1 for e in evs if e["kind"] == "booked")
    no_slots = slots_shown = all_breach = 0
    for t in referral_only:
        search = first_search(journeys[t])
        if not search or not search.get("slots"):
            no_slots += 1
        else:
            slots_shown += 1
            if not search.get("slots_in_time"):
                all_breach += 1
    m = [
        Metric("rep-cons-01", REQUIREMENTS["01"], {"booked": count["booked"]}),
        Metric(
            "rep-cons-02",
            REQUIREMENTS["02"],
            {
                "booked": len(booked_journeys),
                "referrals": referrals,
                "booking utilisation": _rate(len(booked_journeys), referrals),
            },
        ),
        Metric(
            "rep-cons-03",
            REQUIREMENTS["03"],
            {"booked": count["booked"], "slots available": slots_total},
        ),
        Metric(
            "rep-cons-04",
            REQUIREMENTS["04"],
            {
                d: f"{v['booked']} booked, {v['in_time']} slots in time"
                for d, v in sorted(by_disposition.items())
            },
        ),
        Metric(
            "rep-cons-05",
            REQUIREMENTS["05"],
            {
                d: f"{v['booked']} booked, {v['breach']} slots would breach"
                for d, v in sorted(by_disposition.items())
            },
        ),
        Metric(
            "rep-cons-06",
            REQUIREMENTS["06"],
            {
                "not booked": len(referral_only),
                "referrals": referrals,
                "non-booking rate": _rate(len(referral_only), referrals),
            },
        ),
        Metric("rep-cons-07", REQUIREMENTS["07"], {"journeys": no_slots}),
        Metric("rep-cons-08", REQUIREMENTS["08"], {"journeys": slots_shown}),
        Metric("rep-cons-09", REQUIREMENTS["09"], {"journeys": all_breach}),
        Metric("rep-cons-10", REQUIREMENTS["10"], {"slot gone": count["slot_gone"]}),
        Metric("rep-cons-11", REQUIREMENTS["11"], {"times": count["top_service_rejected"]}),
        Metric("rep-cons-12", REQUIREMENTS["12"], {"errors": count["error"]}),
        Metric("rep-cons-13", REQUIREMENTS["13"], {"cancelled": count["cancelled"]}),
        Metric("rep-cons-14", REQUIREMENTS["14"], {"re-booked": count["rebooked"]}),
    ]
    return m


# Why the provider sees only part of some requirements: it learns of a referral only when the
# referral books, and no booking names its NHS Pathways disposition.
REFERRALS_NOT_SEEN = (
    "referrals that did not book never reach the provider: the referral count and the "
    "utilisation rate are the consumer's (rep-cons-02)"
)
DISPOSITION_NOT_SEEN = (
    "no booking names its disposition, so the split into slots that would or would not breach "
    "is the consumer's (rep-cons-{n}); given here: free slots, and each booking's lead time "
    "(slot start less booking time) in the bands of the dispositions' timeframes"
)

NOT_SEEN = {
    "06": "a referral that does not book never reaches the provider",
    "07": "a referral that does not book never reaches the provider",
    "08": "the slots a consumer presented and its referrals are the consumer's",
    "09": "the slots a consumer presented and its referrals are the consumer's",
    "11": "the user's choice among DoS entries is made in the consumer",
    "14": "a re-booking is one consumer journey; the provider sees a cancellation and a booking",
}


def provider_metrics(figures: dict[str, int]) -> list[Metric]:
    """rep-prov-01..14 from provider-side counts (see `provider/report.py`)."""
    lead_times = {k.removeprefix("lead "): v for k, v in figures.items() if k.startswith("lead ")}
    by_lead_time = {
        "booked": figures["booked"],
        "free slots": figures.get("free_slots", 0),
        **{f"lead time {band}": n for band, n in lead_times.items()},
    }
    visible: dict[str, tuple[dict[str, Any], str]] = {
        "01": ({"booked": figures["booked"]}, ""),
        "02": ({"booked": figures["booked"]}, REFERRALS_NOT_SEEN),
        "03": ({"booked": figures["booked"], "slots available": figures["slots"]}, ""),
        "04": (by_lead_time, DISPOSITION_NOT_SEEN.format(n="04")),
        "05": (by_lead_time, DISPOSITION_NOT_SEEN.format(n="05")),
        "10": ({"slot gone": figures["slot_gone"]}, ""),
        "12": ({"errors": figures["errors"]}, ""),
        "13": ({"cancelled": figures["cancelled"]}, ""),
    }
    return [
        Metric(
            f"rep-prov-{n}",
            text,
            visible[n][0] if n in visible else {},
            available=n in visible,
            note=visible[n][1] if n in visible else NOT_SEEN[n],
        )
        for n, text in REQUIREMENTS.items()
    ]


def window_text(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
