"""service levels: the contract on an asset or a customer, the level a case runs on

A case's deadlines can depend on the case (``dealercrm.workflow.model.ServiceLevel``): its
priority, its product's category, a service contract on the asset or on the customer. The
contract is a name on either (``service_contract``); the level a case was put on when it
opened (or when its priority or contract changed since) is kept on the case. Cases opened
before this revision ran on the workflow's own deadlines: level ``standard``.

Revision ID: service_levels
Revises: relationships
Create Date: 2026-12-12
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)

revision = 'service_levels'
down_revision = 'relationships'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # added in place (no table rebuilt): history, assets and cases point at these rows
    for table in ('customer', 'asset'):
        with op.batch_alter_table(table, recreate='never') as batch:
            batch.add_column(sa.Column('service_contract', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table('service_case', recreate='never') as batch:
        batch.add_column(sa.Column('service_level', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                   server_default='standard'))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+), as 0008 does
    with op.batch_alter_table('service_case', recreate='never') as batch:
        batch.drop_column('service_level')
    for table in ('asset', 'customer'):
        with op.batch_alter_table(table, recreate='never') as batch:
            batch.drop_column('service_contract')
