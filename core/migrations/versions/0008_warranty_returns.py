"""warranty and returns on the case; one survey answer per case

The case keeps the warranty as it stood on the day it opened, the replaced unit's return
(shipped, received) and the manufacturer's credit to the dealer. A survey answer is one
per case from now on (a later reply revises it): where a case already has several, the
latest is kept and the earlier ones go — they are still on the customer's timeline.

Revision ID: 0007_warranty_returns
Revises: 0007_calendars
Create Date: 2026-12-10
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
import dealercrm.db.types  # noqa: F401

revision = '0007_warranty_returns'
down_revision = '0007_calendars'
branch_labels = None
depends_on = None

_CASE_COLUMNS = (
    ('warranty_status', sqlmodel.sql.sqltypes.AutoString()),
    ('warranty_until', sa.Date()),
    ('return_shipped_on', sa.Date()),
    ('return_received_on', sa.Date()),
    ('credit_amount', dealercrm.db.types.Money()),
    ('credit_currency', sqlmodel.sql.sqltypes.AutoString()),
    ('credited_on', sa.Date()),
)


def upgrade() -> None:
    with op.batch_alter_table('service_case', schema=None, recreate='never') as batch_op:
        for name, type_ in _CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))

    op.execute("DELETE FROM survey_response WHERE id NOT IN "
               "(SELECT max(id) FROM survey_response GROUP BY case_id)")
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_response_case_id')
        batch_op.create_index('ix_survey_response_case_id', ['case_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_response_case_id')
        batch_op.create_index('ix_survey_response_case_id', ['case_id'], unique=False)

    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): recreating service_case, as batch
    # mode otherwise would, fails on SQLite once case history and surveys point at its rows
    with op.batch_alter_table('service_case', schema=None, recreate='never') as batch_op:
        for name, _ in reversed(_CASE_COLUMNS):
            batch_op.drop_column(name)
