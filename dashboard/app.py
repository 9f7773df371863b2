"""Streamlit entry point: `streamlit run dashboard/app.py` (or `venuepulse dashboard`)."""

from dashboard.shell import main

main()
