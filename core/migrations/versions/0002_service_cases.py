"""service cases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
import dealercrm.db.types  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('owner_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('owner_party_id', sa.Integer(), nullable=True),
    sa.Column('owner_actor_id', sa.Integer(), nullable=True),
    sa.Column('dealer_party_id', sa.Integer(), nullable=False),
    sa.Column('manufacturer_party_id', sa.Integer(), nullable=True),
    sa.Column('technician_party_id', sa.Integer(), nullable=True),
    sa.Column('due_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state_entered_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paused_remaining_s', sa.Float(), nullable=True),
    sa.Column('paused_from', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('opened_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('replacement_asset_id', sa.Integer(), nullable=True),
    sa.Column('warranty_decision', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('rma_number', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('facts', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['asset.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['dealer_party_id'], ['party.id'], ),
    sa.ForeignKeyConstraint(['manufacturer_party_id'], ['party.id'], ),
    sa.ForeignKeyConstraint(['owner_actor_id'], ['actor.id'], ),
    sa.ForeignKeyConstraint(['owner_party_id'], ['party.id'], ),
    sa.ForeignKeyConstraint(['replacement_asset_id'], ['asset.id'], ),
    sa.ForeignKeyConstraint(['technician_party_id'], ['party.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.create_index('ix_case_open_due', ['closed_at', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_dealer_party_id'), ['dealer_party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_manufacturer_party_id'), ['manufacturer_party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_owner_party_id'), ['owner_party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_technician_party_id'), ['technician_party_id'], unique=False)

    op.create_table('case_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('owner_party_id', sa.Integer(), nullable=True),
    sa.Column('due_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('data', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['actor.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['service_case.id'], ),
    sa.ForeignKeyConstraint(['owner_party_id'], ['party.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index('ix_case_event_case', ['case_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index('ix_case_event_case')

    op.drop_table('case_event')
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_technician_party_id'))
        batch_op.drop_index(batch_op.f('ix_service_case_owner_party_id'))
        batch_op.drop_index(batch_op.f('ix_service_case_manufacturer_party_id'))
        batch_op.drop_index(batch_op.f('ix_service_case_dealer_party_id'))
        batch_op.drop_index(batch_op.f('ix_service_case_customer_id'))
        batch_op.drop_index('ix_case_open_due')

    op.drop_table('service_case')
