"""Everything that talks to PostgreSQL: connections, named queries, migrations."""
