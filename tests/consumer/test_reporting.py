"""The standard's consumer metrics from a scripted history of journeys, in a real journal."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from uec_booking.consumer import events
from uec_booking.consumer.journal import Journal, JourneyRecorder
from uec_booking.reporting import consumer_metrics

DAY = datetime(2026, 12, 1, tzinfo=UTC)


def scripted(journal: Journal) -> None:
    at = DAY + timedelta(hours=9)
    r = journal.record
    # 1: booked first time (Dx05: 10 slots shown, 4 in time).
    r("t1", "searched", at=at, disposition="Dx05")
    r("t1", "slots_shown", at=at, disposition="Dx05", service_id="s1", slots=10, slots_in_time=4)
    r("t1", "booked", at=at, disposition="Dx05", service_id="s1", slot_id="a", appointment_id="A1")
    # 2: slot gone, then booked the next one; later cancelled and re-booked.
    r("t2", "slots_shown", at=at, disposition="Dx05", service_id="s1", slots=6, slots_in_time=0)
    r("t2", "slot_gone", at=at, disposition="Dx05", slot_id="b")
    r("t2", "booked", at=at, disposition="Dx05", slot_id="c", appointment_id="A2")
    r("t2", "cancelled", at=at, appointment_id="A2")
    r("t2", "rebooked", at=at, appointment_id="A3")
    # 3: referral without booking, no slots presented.
    r("t3", "referral", at=at, disposition="Dx11", service_id="s4")
    # 4: referral without booking, slots presented but all would breach; an error on booking.
    r("t4", "slots_shown", at=at, disposition="Dx11", service_id="s1", slots=3, slots_in_time=0)
    r("t4", "error", at=at, disposition="Dx11", detail="provider 500")
    r("t4", "referral", at=at, disposition="Dx11", service_id="s4")
    # 5: the call handler passed over a bookable top service, then booked.
    r("t5", "top_service_rejected", at=at, disposition="Dx06", service_id="s1")
    r("t5", "slots_shown", at=at, disposition="Dx06", service_id="s2", slots=2, slots_in_time=2)
    r("t5", "booked", at=at, disposition="Dx06", service_id="s2", appointment_id="A5")
    # Outside the window: must not count.
    r("t9", "booked", at=DAY + timedelta(days=3), disposition="Dx05", appointment_id="A9")


def test_metrics_from_a_scripted_history(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    scripted(journal)
    metrics = {
        m.id: m.figures for m in consumer_metrics(journal.events(DAY, DAY + timedelta(days=1)))
    }
    journal.close()
    assert metrics["rep-cons-01"] == {"booked": 3}
    assert metrics["rep-cons-02"] == {"booked": 3, "referrals": 5, "booking utilisation": "60%"}
    assert metrics["rep-cons-03"] == {"booked": 3, "slots available": 21}
    assert metrics["rep-cons-04"] == {
        "Dx05": "2 booked, 4 slots in time",
        "Dx06": "1 booked, 2 slots in time",
        "Dx11": "0 booked, 0 slots in time",
    }
    assert metrics["rep-cons-05"]["Dx05"] == "2 booked, 12 slots would breach"
    assert metrics["rep-cons-06"] == {"not booked": 2, "referrals": 5, "non-booking rate": "40%"}
    assert metrics["rep-cons-07"] == {"journeys": 1}
    assert metrics["rep-cons-08"] == {"journeys": 1}
    assert metrics["rep-cons-09"] == {"journeys": 1}
    assert metrics["rep-cons-10"] == {"slot gone": 1}
    assert metrics["rep-cons-11"] == {"times": 1}
    assert metrics["rep-cons-12"] == {"errors": 1}
    assert metrics["rep-cons-13"] == {"cancelled": 1}
    assert metrics["rep-cons-14"] == {"re-booked": 1}


def test_report_command_formats(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    journal = Journal(url)
    scripted(journal)
    journal.close()
    base = [sys.executable, "-m", "uec_booking", "report", "--from", "2026-12-01", "--journal", url]
    as_json = json.loads(
        subprocess.run(
            [*base, "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert [m["id"] for m in as_json["metrics"]] == [f"rep-cons-{n:02d}" for n in range(1, 15)]
    assert as_json["metrics"][0]["figures"] == {"booked": 3}
    as_csv = subprocess.run(
        [*base, "--format", "csv"], capture_output=True, text=True, check=True
    ).stdout
    assert as_csv.splitlines()[1].startswith("rep-cons-01,") and "booked: 3" in as_csv
    table = subprocess.run(base, capture_output=True, text=True, check=True).stdout
    assert "rep-cons-14" in table and "2026-12-01" in table


def test_the_recorder_turns_a_journeys_events_into_rows(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    recorder = JourneyRecorder(journal, trace_id="t1", disposition="Dx05")
    for event in [
        events.PatientVerified("9000000009", "Jane Smith"),  # not a reporting event
        events.ServicesFound((("s1", "Leeds", 0.5, True), ("s4", "Otley", 3.0, False))),
        events.ServiceDetails("s4", "Otley", ()),
        events.ServiceNotBookable("s4", "Otley", "DoS lists no booking ASID", True),
        events.ServiceNotBookable("s5", "Ilkley", "SDS: no nhsMHS", False),  # no referral
        events.ServiceDetails("s1", "Leeds", ("200000000101",)),
        events.SlotsFound("s1", 10, DAY, 4),
        events.SlotGone("a"),
        events.StepFailed("Service details for Ilkley", "timed out"),  # not a booking error
        events.StepFailed("Booking at Leeds", "provider 500"),
        events.Booked("A1", "b", DAY),
    ]:
        recorder(event)
    rows = journal.events(DAY - timedelta(days=3650), datetime.now(UTC) + timedelta(days=1))
    journal.close()
    columns = (
        "kind",
        "service_id",
        "slot_id",
        "appointment_id",
        "slots",
        "slots_in_time",
        "detail",
    )
    assert [tuple(row[c] for c in columns) for row in rows] == [
        ("searched", None, None, None, None, None, "2 services"),
        ("referral", "s4", None, None, None, None, "DoS lists no booking ASID"),
        ("slots_shown", "s1", None, None, 10, 4, None),
        ("slot_gone", "s1", "a", None, None, None, None),
        ("error", "s1", None, None, None, None, "provider 500"),
        ("booked", "s1", "b", "A1", None, None, None),
    ]
    assert {(row["trace_id"], row["disposition"]) for row in rows} == {("t1", "Dx05")}
