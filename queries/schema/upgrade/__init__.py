"""The legacy upgrade path: a separate Alembic environment (L0 legacy baseline -> L4 = revision 0001).

See :mod:`queries.legacy` for running it, and docs/upgrading.md for what each phase does.
"""
