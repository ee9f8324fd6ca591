"""The consumer's own record of each booking journey, for the standard's reporting metrics
(fs_reporting.md, rep-cons-01..14). One row per event, in SQLite or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from uec_booking.consumer import events
from uec_booking.consumer.dispositions import timeframe

metadata = MetaData()
journey_event = Table(
    "journey_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("trace_id", String(64), nullable=False, index=True),
    # searched | slots_shown | booked | slot_gone | error | referral | cancelled | rebooked | top_service_rejected
    Column("kind", String(32), nullable=False),
    Column("disposition", String(16)),
    Column("service_id", String(32)),
    Column("slot_id", String(64)),
    Column("appointment_id", String(64)),
    Column("slots", Integer),  # slots_shown: how many
    Column(
        "slots_in_time", Integer
    ),  # slots_shown: how many start within the disposition's timeframe
    Column("detail", String(500)),
)


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass
class Journal:
    """Append-only journey events."""

    url: str

    def __post_init__(self) -> None:
        self._engine = create_engine(_sync_url(self.url))
        metadata.create_all(self._engine)

    def record(
        self, trace_id: str, kind: str, *, at: datetime | None = None, **fields: Any
    ) -> None:
        row = {
            "at": (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None),
            "trace_id": trace_id,
            "kind": kind,
            **fields,
        }
        with self._engine.begin() as conn:
            conn.execute(insert(journey_event).values(**row))

    def events(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = select(journey_event).where(
            journey_event.c.at >= _naive(start), journey_event.c.at < _naive(end)
        )
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(journey_event.c.id)).mappings()]

    def close(self) -> None:
        self._engine.dispose()


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class JourneyRecorder:
    """Turns one journey's workflow events into journal rows."""

    def __init__(self, journal: Journal, *, trace_id: str, disposition: str) -> None:
        self.journal, self.trace_id, self.disposition = journal, trace_id, disposition
        self.service_id: str | None = None

    def __call__(self, event: events.WorkflowEvent) -> None:
        if isinstance(event, events.ServiceDetails):
            self.service_id = event.service_id  # the service the next rows are about
            return
        row = self._row(event)
        if row is not None:
            kind, fields = row
            self.journal.record(self.trace_id, kind, disposition=self.disposition, **fields)

    def _row(self, event: events.WorkflowEvent) -> tuple[str, dict[str, Any]] | None:
        """The journal's kind and columns for `event`, or None: not a reporting event."""
        service = self.service_id
        match event:
            case events.ServicesFound():
                return "searched", {"detail": f"{len(event.services)} services"}
            case events.SlotsFound():
                counts = {"slots": event.count, "slots_in_time": event.in_time}
                return "slots_shown", {"service_id": event.service_id, **counts}
            case events.SlotGone():
                return "slot_gone", {"service_id": service, "slot_id": event.slot_id}
            case events.Booked():
                booked = {"slot_id": event.slot_id, "appointment_id": event.appointment_id}
                return "booked", {"service_id": service, **booked}
            case events.ServiceNotBookable(referral_allowed=True):
                return "referral", {"service_id": event.service_id, "detail": event.reason[:500]}
            case events.StepFailed() if event.step.startswith("Booking"):
                return "error", {"service_id": service, "detail": event.error[:500]}
        return None


def slots_in_time(starts: list[datetime], disposition: str, now: datetime) -> int:
    """How many of these slots start within the disposition's timeframe (no breach)."""
    limit = now + timeframe(disposition)
    return sum(1 for s in starts if s <= limit)
