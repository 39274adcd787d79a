"""Gunicorn settings of the bench's frozen baseline (``-c python:bench.frozen_conf``): its
workers freeze the loaded app's objects out of the collector's reach, as the proxy's do."""

from proxy.serving.worker import freeze_loaded as post_worker_init

__all__ = ["post_worker_init"]
