"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from queries.migrations.sqlfile import run_sql_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else 'run_sql_file("%s_CHANGE_ME.up.sql" % revision)'}


def downgrade() -> None:
    ${downgrades if downgrades else 'run_sql_file("%s_CHANGE_ME.down.sql" % revision)'}
