"""tickets: a partial index of the live tickets under way, which a backfill yields to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As pipeline.store.schema.LIVE_UNDER_WAY_SQL at this revision (a migration never changes).
LIVE_UNDER_WAY_SQL = "queue = 'live' AND status IN ('received', 'classified', 'routed')"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_live_under_way",
        "tickets",
        ["updated_at"],
        postgresql_where=text(LIVE_UNDER_WAY_SQL),
        sqlite_where=text(LIVE_UNDER_WAY_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_live_under_way", table_name="tickets")
