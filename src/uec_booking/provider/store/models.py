"""Tables. FHIR JSON is stored beside the indexed columns the searches use; a Slot's JSON is
rebuilt from its columns, so a status change never leaves a stale copy behind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for statements built once and run without the ORM."""
    return Base.metadata.tables[model.__tablename__]


class Traced:
    """The request's trace (Ssp-TraceID) and the consumer's X-Request-ID, kept alike on a
    booking and on the audit of every attempt, so one can be followed to the other."""

    trace_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))


class DirectoryResource(Base):
    """Organization, Location, Practitioner, PractitionerRole, HealthcareService, Schedule."""

    __tablename__ = "directory_resource"
    resource_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # For Schedules: the HealthcareService actor, so slot search can filter without JSON.
    healthcare_service_id: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # For Schedules: which consumers may see their slots (`provider/visibility.py`), as JSON
    # {"ods": [...], "asid": [...], "organisation_types": [...]}; NULL: every consumer.
    visible_to: Mapped[str | None] = mapped_column(Text)


class ConsumerOrganisation(Base):
    """The consumer organisations the provider knows, by ODS code, with their type (e.g.
    `NHS 111`): what Schedules' `organisation_types` restrictions are decided by."""

    __tablename__ = "consumer_organisation"
    ods: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_type: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))


class SlotRow(Base):
    __tablename__ = "slot"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(String(64), nullable=False)
    healthcare_service_id: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # UTC, naive
    end: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    # Elements other than the indexed ones (identifier, serviceType, ...), as JSON.
    extra: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_slot_service_status_start", "healthcare_service_id", "status", "start"),
        Index("ix_slot_status_start", "status", "start"),
        Index("ix_slot_schedule_start", "schedule_id", "start"),
    )


class AppointmentRow(Traced, Base):
    __tablename__ = "appointment"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(64), ForeignKey("slot.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)
    nhs_number: Mapped[str | None] = mapped_column(String(10), index=True)
    start: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    # The consumer's X-Request-ID (`request_id`): a repeat must not book twice (fs_xti).
    # Unique per consumer (`consumer_key`), not globally; `request_hash` tells a repeat
    # from a reuse.
    consumer_key: Mapped[str | None] = mapped_column(String(256))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Who booked (from the verified token): only they may read, search and cancel it.
    consumer_ods: Mapped[str | None] = mapped_column(String(32))
    consumer_asid: Mapped[str | None] = mapped_column(String(64))
    consumer_client: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        # The last line of defence against double booking: one live appointment per slot.
        Index(
            "uq_appointment_live_slot",
            "slot_id",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index("uq_appointment_consumer_request", "consumer_key", "request_id", unique=True),
    )


class AppointmentVersion(Base):
    """Every version of every Appointment (`_history`)."""

    __tablename__ = "appointment_version"
    appointment_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("appointment.id"), primary_key=True
    )
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class AuditEvent(Traced, Base):
    """Who did what, when, under which trace, and how it ended."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    interaction: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # success | failure
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(128))
    asid: Mapped[str | None] = mapped_column(String(64))
    ods: Mapped[str | None] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class ChangeEpoch(Base):
    """A counter per scope (`slots:<HealthcareService id>`, `directory`), bumped in the same
    transaction as every write to what it covers: a cached read is current while its epoch is."""

    __tablename__ = "change_epoch"
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
