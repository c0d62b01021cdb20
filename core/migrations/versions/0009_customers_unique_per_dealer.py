"""customers unique per owning dealer, not across dealers

An e-mail address and an external id are unique among one dealer's customers only: the
same person may be a customer of two dealers, and two dealers' DMS numbering may both
have "K-1". A phone number is unique nowhere — a family shares a landline, a company's
people its switchboard — and only makes a duplicate suspect.

Revision ID: 0009_per_dealer
Revises: 0008 warranty returns
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_per_dealer'
down_revision = '0007_warranty_returns'
branch_labels = None
depends_on = None

GLOBAL = ({'email'}, {'phone'}, {'external_id'})


def _rebuild_sqlite(conn, global_unique: bool) -> None:
    """SQLite drops a table's unique constraints only by rebuilding it, and inside the
    migration's transaction foreign keys cannot be switched off. Alembic's batch mode fills
    the new table under another name and renames it, which leaves the foreign keys of the
    rows pointing at customers counted as broken. So the rows wait in a plain copy, the
    table is dropped and made again under its own name, and the rows go back into it: the
    children's references (checked at commit, ``defer_foreign_keys``) find their customers."""
    meta = sa.MetaData()
    meta.reflect(conn)
    table = meta.tables['customer']
    indexes = [(i.name, [c.name for c in i.columns], i.unique) for i in table.indexes]
    table.indexes.clear()  # created again below, once the old ones went with the old table
    for constraint in [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]:
        table.constraints.discard(constraint)
    if global_unique:
        for (column,) in GLOBAL:
            table.append_constraint(sa.UniqueConstraint(column))
    names = ', '.join(f'"{c.name}"' for c in table.columns)
    conn.exec_driver_sql('PRAGMA defer_foreign_keys = ON')
    conn.exec_driver_sql(f'CREATE TABLE _customer_rows AS SELECT {names} FROM customer')
    conn.exec_driver_sql('DROP TABLE customer')
    table.create(conn)
    conn.exec_driver_sql(f'INSERT INTO customer ({names}) SELECT {names} FROM _customer_rows')
    conn.exec_driver_sql('DROP TABLE _customer_rows')
    for name, columns, unique in indexes:
        op.create_index(name, 'customer', columns, unique=unique)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        _rebuild_sqlite(conn, global_unique=False)
    else:
        for unique in sa.inspect(conn).get_unique_constraints('customer'):
            if set(unique['column_names']) in GLOBAL:
                op.drop_constraint(unique['name'], 'customer', type_='unique')
    op.create_index('uq_customer_owner_email', 'customer', ['owner_party_id', 'email'], unique=True)
    op.create_index('uq_customer_owner_external_id', 'customer', ['owner_party_id', 'external_id'], unique=True)
    op.create_index('ix_customer_email', 'customer', ['email'])
    op.create_index('ix_customer_phone', 'customer', ['phone'])
    op.create_index('ix_customer_external_id', 'customer', ['external_id'])


def downgrade() -> None:
    for name in ('ix_customer_external_id', 'ix_customer_phone', 'ix_customer_email',
                 'uq_customer_owner_external_id', 'uq_customer_owner_email'):
        op.drop_index(name, 'customer')
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        _rebuild_sqlite(conn, global_unique=True)
    else:
        for column in ('email', 'phone', 'external_id'):
            op.create_unique_constraint(f'customer_{column}_key', 'customer', [column])
