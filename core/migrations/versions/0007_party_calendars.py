"""party calendars: time zone, opening hours per weekday, closing days

Revision ID: 0007_calendars
Revises: 0006
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007_calendars'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('party') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(), nullable=False, server_default='Europe/Berlin'))
        batch.add_column(sa.Column('hours', JSON, nullable=True))
        batch.add_column(sa.Column('closed', JSON, nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+): recreating party, as batch mode otherwise would, fails once
    # actors, customers and cases point at its rows
    with op.batch_alter_table('party', recreate='never') as batch:
        batch.drop_column('closed')
        batch.drop_column('hours')
        batch.drop_column('time_zone')
