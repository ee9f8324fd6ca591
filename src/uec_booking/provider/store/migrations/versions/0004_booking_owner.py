"""Who booked: the consumer's organisation on every Appointment, and X-Request-ID unique per
consumer (with a hash of the request, to tell a retry from a reuse) instead of globally."""

import sqlalchemy as sa
from alembic import op

revision = "0004_booking_owner"
down_revision = "0003_slot_visibility"

# 0001 left the request_id unique constraint unnamed; on SQLite batch mode needs a name for
# it, which this convention gives the reflected constraint.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_global_request_id_unique() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("appointment_request_id_key", "appointment", type_="unique")
        return
    with op.batch_alter_table("appointment", naming_convention=_SQLITE_NAMES) as batch:
        batch.drop_constraint("uq_appointment_request_id", type_="unique")


def upgrade() -> None:
    op.add_column("appointment", sa.Column("consumer_key", sa.String(256), nullable=True))
    op.add_column("appointment", sa.Column("request_hash", sa.String(64), nullable=True))
    op.add_column("appointment", sa.Column("consumer_ods", sa.String(32), nullable=True))
    _drop_global_request_id_unique()
    # Rows booked before this revision: their consumer is the system that booked them.
    op.execute(
        "UPDATE appointment SET consumer_key = "
        "'|' || COALESCE(consumer_asid, '') || '|' || COALESCE(consumer_client, '') "
        "WHERE request_id IS NOT NULL"
    )
    op.create_index(
        "uq_appointment_consumer_request",
        "appointment",
        ["consumer_key", "request_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_appointment_consumer_request", table_name="appointment")
    with op.batch_alter_table("appointment") as batch:
        batch.drop_column("consumer_ods")
        batch.drop_column("request_hash")
        batch.drop_column("consumer_key")
        batch.create_unique_constraint("uq_appointment_request_id", ["request_id"])
