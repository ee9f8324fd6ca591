"""Change epochs: what lets a worker keep a read model and still never serve a stale one."""

import sqlalchemy as sa
from alembic import op

revision = "0002_change_epoch"
down_revision = "0001_booking_store"


def upgrade() -> None:
    op.create_table(
        "change_epoch",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("change_epoch")
