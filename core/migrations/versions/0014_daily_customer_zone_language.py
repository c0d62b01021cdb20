"""the customer's own time zone and language; duplicate blocks by postcode and birthday

Revision ID: daily
Revises: service_levels
Create Date: 2026-12-07

A customer's notices show times in the customer's zone, in the customer's language; both
are optional (a customer without them is told in the owning dealer's zone and the
notices' configured language). ``dealercrm customers duplicates`` compares names only
within a dealer's customers of one postcode or one birthday: the indexes find a single
customer's block without a scan.
"""
from alembic import op
import sqlalchemy as sa

revision = 'daily'
down_revision = 'service_levels'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # in place: a rebuild of customer (batch mode's way) would leave its children's foreign keys broken on SQLite
    with op.batch_alter_table('customer', recreate='never') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(), nullable=True))
        batch.add_column(sa.Column('language', sa.String(), nullable=True))
    op.create_index('ix_customer_owner_postcode', 'customer', ['owner_party_id', 'postcode'], unique=False)
    op.create_index('ix_customer_owner_birthday', 'customer', ['owner_party_id', 'birthday'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_owner_birthday', table_name='customer')
    op.drop_index('ix_customer_owner_postcode', table_name='customer')
    with op.batch_alter_table('customer', recreate='never') as batch:
        batch.drop_column('language')
        batch.drop_column('time_zone')
