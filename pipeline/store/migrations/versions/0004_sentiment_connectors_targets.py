"""per-field confidences and sentiment; the connector a ticket came through; delivery targets

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00

tickets.sentiment / sentiment_confidence / urgency_confidence: the decision's other fields,
each with its own confidence. tickets.connector: the helpdesk connector a ticket arrived
through (zendesk, github, email, ...), NULL for the generic API. deliveries.target: where a
department's delivery went ("http" for its endpoint, or a helpdesk write-back such as
"zendesk"), so one department may deliver to both; response_body keeps what the target said.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("urgency_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sentiment", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("sentiment_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("connector", sa.String(length=32), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", sa.String(length=32), nullable=False, server_default="http")
        )
        batch_op.add_column(sa.Column("response_body", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_deliveries_ticket_dept_gen", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_ticket_dept_target_gen",
            ["ticket_id", "department", "target", "generation"],
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_ticket_dept_target_gen", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_ticket_dept_gen", ["ticket_id", "department", "generation"]
        )
        batch_op.drop_column("response_body")
        batch_op.drop_column("target")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("connector")
        batch_op.drop_column("sentiment_confidence")
        batch_op.drop_column("sentiment")
        batch_op.drop_column("urgency_confidence")
