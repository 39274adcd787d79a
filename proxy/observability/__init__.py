"""Prometheus metrics aggregated across gunicorn workers, and whitelisted JSON logs."""
