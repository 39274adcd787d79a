"""The ASGI application gunicorn workers load (``proxy.asgi:app``), configured by ``serve``."""

from proxy import logs
from proxy.app import create_app
from proxy.server import config_from_env

config = config_from_env()
logs.configure(config.server.log_level)
app = create_app(config)
