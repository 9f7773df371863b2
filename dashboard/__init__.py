"""Streamlit dashboard and the venuepulse command-line interface."""
