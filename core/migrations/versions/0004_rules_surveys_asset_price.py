"""rules surveys asset price

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
import dealercrm.db.types  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_firing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('situation', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('detail', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rule', 'subject_kind', 'subject_id', 'situation', name='uq_rule_firing')
    )
    with op.batch_alter_table('rule_firing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_firing_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rule_firing_rule'), ['rule'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('nps', sa.Integer(), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['service_case.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_response_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price', sa.Float(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.drop_column('price')

    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_response_customer_id'))
        batch_op.drop_index(batch_op.f('ix_survey_response_case_id'))

    op.drop_table('survey_response')
    with op.batch_alter_table('rule_firing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_firing_rule'))
        batch_op.drop_index(batch_op.f('ix_rule_firing_customer_id'))

    op.drop_table('rule_firing')
