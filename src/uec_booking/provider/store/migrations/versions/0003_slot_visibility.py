"""Slot visibility: which consumers may see a Schedule's slots, and the consumer
organisations' types those restrictions name (fs_slotmanagement)."""

import sqlalchemy as sa
from alembic import op

revision = "0003_slot_visibility"
down_revision = "0002_change_epoch"


def upgrade() -> None:
    with op.batch_alter_table("directory_resource") as batch:
        batch.add_column(sa.Column("visible_to", sa.Text(), nullable=True))
    op.create_table(
        "consumer_organisation",
        sa.Column("ods", sa.String(32), primary_key=True),
        sa.Column("organisation_type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consumer_organisation")
    with op.batch_alter_table("directory_resource") as batch:
        batch.drop_column("visible_to")
