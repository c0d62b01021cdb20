"""sign-in and case links, and the server's secret (made here, once per database)

Revision ID: 0010_sign_in
Revises: 0009_per_dealer
Create Date: 2026-12-06
"""
import secrets

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
import dealercrm.db.types  # noqa: F401


revision = '0010_sign_in'
down_revision = '0009_per_dealer'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_secret',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    # every process on the database signs links with it, unless DEALERCRM_SECRET_KEY is set
    kept = sa.table('server_secret', sa.column('name', sa.String), sa.column('value', sa.String),
                    sa.column('created_at', sa.DateTime))
    op.execute(kept.insert().values(name='master', value=secrets.token_urlsafe(48),
                                    created_at=sa.func.current_timestamp()))
    op.create_table('actor_password',
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('set_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['actor.id'], ),
    sa.ForeignKeyConstraint(['set_by_id'], ['actor.id'], ),
    sa.PrimaryKeyConstraint('actor_id')
    )
    op.create_table('actor_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['actor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('actor_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actor_session_actor_id'), ['actor_id'], unique=False)

    op.create_table('sign_in_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('created_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['actor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('sign_in_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_link_actor_id'), ['actor_id'], unique=False)

    op.create_table('case_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', dealercrm.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['service_case.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_link_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_link_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_link_customer_id'))
        batch_op.drop_index(batch_op.f('ix_case_link_case_id'))

    op.drop_table('case_link')
    with op.batch_alter_table('sign_in_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_link_actor_id'))

    op.drop_table('sign_in_link')
    with op.batch_alter_table('actor_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actor_session_actor_id'))

    op.drop_table('actor_session')
    op.drop_table('actor_password')
    op.drop_table('server_secret')
