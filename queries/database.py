"""Convenience re-export: ``get_database_url`` resolves the URL and starts the embedded server if needed."""

from .config import get_database_url, resolve_database_url

__all__ = ["get_database_url", "resolve_database_url"]
