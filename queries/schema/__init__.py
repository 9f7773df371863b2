"""The schema and its history: Alembic migrations, and the phased upgrade of a legacy database."""
