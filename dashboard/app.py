"""Streamlit entry point: `streamlit run dashboard/app.py` (or `venuepulse dashboard`)."""

from venuepulse.dashboard.shell import main

main()
