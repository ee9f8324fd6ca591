"""Grading what the consumer did with DoS's answers (the consumer assurance workbook's C1,
C6, C7, C8, C10): which services it asked ServiceDetailsById about, and which of them it
then searched slots for through the SSP."""

from __future__ import annotations

import re

from uec_booking.check.model import CaseResult, Report
from uec_booking.check.recorder import Recorded
from uec_booking.check.scripts import SCRIPTS

WB = "nhsd-a2si/docs-uec-appts Care_Connect_Consumer_Assurance_Test_Scripts.xlsx "


def not_exercised(result: CaseResult, how: str) -> None:
    """Assurance needs evidence: a case no journey exercised fails, saying what to drive."""
    result.expect("exercised by a journey", "at least one request", f"none ({how})", False)


def details_asked(dos: list[Recorded]) -> dict[str, bytes]:
    """ServiceDetailsById requests: service id -> the answer the consumer got."""
    out: dict[str, bytes] = {}
    for rec in dos:
        if b"ServiceDetailsById" in rec.body:
            match = re.search(rb"<(?:\w+:)?serviceId>\s*(\d+)\s*<", rec.body)
            if match:
                out[match.group(1).decode()] = rec.response
    return out


def with_asid(dos: list[Recorded]) -> set[str]:
    return {sid for sid, answer in details_asked(dos).items() if b"ASID:" in answer}


def grade_dos(
    report: Report, dos: list[Recorded], searched: set[str], no_asid: str, not_in_sds: str
) -> None:
    asked = details_asked(dos)

    def case(case_id: str, title: str, source: str) -> CaseResult:
        result = CaseResult(case_id, title, WB + source)
        report.cases.append(result)
        return result

    result = case(
        "CConnect-ApptTest_1", "Booking ASID taken from ServiceDetailsById before booking", "C1, C6"
    )
    if not searched:
        not_exercised(result, "no slot search was made: drive journey J1")
    else:
        unasked = sorted(searched - set(asked))
        result.expect(
            "ServiceDetailsById for every service searched",
            "all asked",
            unasked or "all",
            not unasked,
        )
    for case_id, title, source, service, journey in (
        (
            "CConnect-ApptTest_7",
            "No booking ASID in DoS: no booking attempted, journey continues",
            "C8",
            no_asid,
            "J2",
        ),
        (
            "CConnect-ApptTest_9",
            "Booking ASID without an NhsAS object in SDS: no booking attempted",
            "C10",
            not_in_sds,
            "J3",
        ),
    ):
        result = case(case_id, title, source)
        if service not in asked:
            not_exercised(result, f"DoS was not asked about service {service}: drive {journey}")
            continue
        result.expect(
            f"no slot search for service {service}",
            "none",
            "searched" if service in searched else "none",
            service not in searched,
        )


def grade_scripted(
    report: Report,
    dos: list[Recorded],
    searches: list[tuple[str | None, float]],  # (service searched, when)
    ssp_to: list[tuple[str | None, float]],  # (Ssp-To of every SSP request, when)
    scripted: list[tuple[str, str, float]],
) -> None:
    """Each script: between its rewritten answer and the journey's end (the next
    CheckCapacitySummary), no slot search for that service and nothing sent to its ASID."""
    starts = sorted(r.at for r in dos if b"CheckCapacitySummary" in r.body)
    for script in SCRIPTS:
        result = CaseResult(script.case_id, f"Scripted: {script.what}", WB + script.requirement)
        report.cases.append(result)
        played = [(service, at) for kind, service, at in scripted if kind == script.kind]
        if not played:
            nth = f"call {script.nth} for {script.postcode}"
            not_exercised(result, f"its journey (CheckCapacitySummary {nth}) was not driven")
            continue
        for service, at in played:
            until = next((t for t in starts if t > at), float("inf"))
            hit = [s for s, t in searches if at < t < until and s == service]
            sent = [a for a, t in ssp_to if at < t < until and script.asid and a == script.asid]
            result.expect(
                f"no slot search for service {service}, nothing to {script.asid or 'either ASID'}",
                "none",
                f"{len(hit)} searches, {len(sent)} requests" if hit or sent else "none",
                not hit and not sent,
            )
