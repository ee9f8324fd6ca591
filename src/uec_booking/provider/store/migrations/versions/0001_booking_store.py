"""Booking store: directory resources, slots, appointments with history, audit events."""

import sqlalchemy as sa
from alembic import op

revision = "0001_booking_store"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "directory_resource",
        sa.Column("resource_type", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("healthcare_service_id", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_directory_resource_healthcare_service_id",
        "directory_resource",
        ["healthcare_service_id"],
    )
    op.create_table(
        "slot",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("healthcare_service_id", sa.String(64), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_slot_service_status_start", "slot", ["healthcare_service_id", "status", "start"]
    )
    op.create_index("ix_slot_status_start", "slot", ["status", "start"])
    op.create_index("ix_slot_schedule_start", "slot", ["schedule_id", "start"])
    op.create_table(
        "appointment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("slot_id", sa.String(64), sa.ForeignKey("slot.id"), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("nhs_number", sa.String(10), nullable=True),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True, unique=True),
        sa.Column("consumer_asid", sa.String(64), nullable=True),
        sa.Column("consumer_client", sa.String(128), nullable=True),
        sa.Column("trace_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_appointment_nhs_number", "appointment", ["nhs_number"])
    op.create_index(
        "uq_appointment_live_slot",
        "appointment",
        ["slot_id"],
        unique=True,
        sqlite_where=sa.text("status = 'booked'"),
        postgresql_where=sa.text("status = 'booked'"),
    )
    op.create_table(
        "appointment_version",
        sa.Column(
            "appointment_id", sa.String(64), sa.ForeignKey("appointment.id"), primary_key=True
        ),
        sa.Column("version_id", sa.Integer(), primary_key=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("interaction", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("asid", sa.String(64), nullable=True),
        sa.Column("ods", sa.String(32), nullable=True),
        sa.Column("trace_id", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_event_recorded_at", "audit_event", ["recorded_at"])


def downgrade() -> None:
    op.drop_table("audit_event")
    op.drop_table("appointment_version")
    op.drop_index("uq_appointment_live_slot", table_name="appointment")
    op.drop_index("ix_appointment_nhs_number", table_name="appointment")
    op.drop_table("appointment")
    op.drop_table("slot")
    op.drop_table("directory_resource")
