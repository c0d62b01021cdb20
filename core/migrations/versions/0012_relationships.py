"""interactions and tasks name the contact person they were with (relationships at every level)

A company customer's contact persons have functions (buyer, technician, accounting);
naming the one an interaction or a task was with shows which of our people knows which
of theirs. Both columns are nullable: an interaction with the customer as a whole (or
one recorded before) names nobody.

Revision ID: relationships
Revises: 0011_noticed
Create Date: 2026-12-14
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
import dealercrm.db.types  # noqa: F401

revision = 'relationships'
down_revision = '0011_noticed'
branch_labels = None
depends_on = None

_TABLES = ('interaction', 'task')


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == 'sqlite'
    for table in _TABLES:
        if sqlite:
            # ADD COLUMN ... REFERENCES in place: SQLite alters no constraints, and recreating the
            # tables, as batch mode would, fails once interests and tasks point at their rows
            op.execute(f'ALTER TABLE {table} ADD COLUMN contact_person_id INTEGER REFERENCES contact_person (id)')
        else:
            op.add_column(table, sa.Column('contact_person_id', sa.Integer(), nullable=True))
            op.create_foreign_key(f'fk_{table}_contact_person_id', table, 'contact_person',
                                  ['contact_person_id'], ['id'])
        op.create_index(f'ix_{table}_contact_person_id', table, ['contact_person_id'], unique=False)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == 'sqlite'
    for table in reversed(_TABLES):
        op.drop_index(f'ix_{table}_contact_person_id', table_name=table)
        if not sqlite:
            op.drop_constraint(f'fk_{table}_contact_person_id', table, type_='foreignkey')
        # SQLite 3.35+ drops a column in place (its inline reference goes with it)
        op.drop_column(table, 'contact_person_id')
