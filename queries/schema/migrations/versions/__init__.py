"""Alembic revisions (hand-written PostgreSQL DDL kept in ../sql)."""
