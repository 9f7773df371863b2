"""The Streamlit dashboard: the shell, one module per page under views/, shared widgets. Drawing only."""
