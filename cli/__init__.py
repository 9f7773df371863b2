"""VenuePulse: analytics and observability for a venue-discovery app's PostgreSQL backend.

This package (the ``cli/`` folder of the repository) holds the command line, process supervision
(``venuepulse up``, ``venuepulse dashboard``), configuration, the embedded PostgreSQL server, the one
error hierarchy, and small pieces every part uses (``durations``, ``console``). ``queries``, ``jobs`` and
``dashboard`` are its subpackages; docs/architecture.md maps them.
"""

__version__ = "0.1.0"
