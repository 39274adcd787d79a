"""The ASGI application gunicorn workers load (``proxy.serving.asgi:app``), set up by ``serve``."""

from proxy.app import create_app
from proxy.observability import logs
from proxy.serving.server import config_from_env

config = config_from_env()
logs.configure(config.server.log_level)
app = create_app(config)
