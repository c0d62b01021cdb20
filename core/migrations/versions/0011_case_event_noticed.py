"""case events are noticed after their commit: case_event.noticed_at

Revision ID: 0011_noticed
Revises: 0010_sign_in
Create Date: 2026-12-06

Notices (the customer's hand-off message, a subscriber's delivery) are no longer queued in
the transition's transaction but afterwards, from the committed case event, by
``dealercrm.services.notices``. ``noticed_at`` says which events are done; the partial
index keeps the work list small. Every event already in the database had its notices
queued in its own transaction by the code before this revision: marked as noticed.
"""
from alembic import op
import sqlalchemy as sa

import dealercrm.db.types  # noqa: F401

revision = '0011_noticed'
down_revision = '0010_sign_in'
branch_labels = None
depends_on = None

UNNOTICED = "noticed_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('case_event') as batch:
        batch.add_column(sa.Column('noticed_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE case_event SET noticed_at = at")
    op.create_index('ix_case_event_unnoticed', 'case_event', ['id'], unique=False,
                    sqlite_where=sa.text(UNNOTICED), postgresql_where=sa.text(UNNOTICED))


def downgrade() -> None:
    op.drop_index('ix_case_event_unnoticed', table_name='case_event')
    with op.batch_alter_table('case_event') as batch:
        batch.drop_column('noticed_at')
