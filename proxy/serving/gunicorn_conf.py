"""Gunicorn settings for ``enphase-proxy serve`` (``-c python:proxy.serving.gunicorn_conf``)."""

from __future__ import annotations

import gc
import os
from typing import Any

from proxy.serving.server import WORKER_CLASS_ENV, config_from_env, gunicorn_settings

globals().update(gunicorn_settings(config_from_env(), os.environ.get(WORKER_CLASS_ENV, "asgi")))


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Move the loaded app's objects out of the collector's reach: a full collection walked
    them all, stalling the worker's hits for tens of milliseconds (the p99 of a cache hit)."""
    gc.collect()
    gc.freeze()
