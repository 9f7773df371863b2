"""Everything that talks to PostgreSQL, in subpackages by concern (see docs/architecture.md)."""
