"""Gunicorn settings for ``enphase-proxy serve`` (``-c python:proxy.serving.gunicorn_conf``)."""

from __future__ import annotations

import os
from typing import Any

from proxy.serving.server import WORKER_CLASS_ENV, config_from_env, gunicorn_settings
from proxy.serving.worker import freeze_loaded

globals().update(gunicorn_settings(config_from_env(), os.environ.get(WORKER_CLASS_ENV, "asgi")))


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


post_worker_init = freeze_loaded
