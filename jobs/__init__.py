"""Scheduled maintenance jobs, demo data and live simulation."""
