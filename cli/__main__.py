"""``python -m venuepulse`` runs the ``venuepulse`` command."""

from venuepulse.commands import main

if __name__ == "__main__":
    raise SystemExit(main())
