"""The ``enphase-proxy`` command line: serve, sandbox, quota, check-config and auth.

The top of the house: nothing imports it. Its entry point is ``proxy.cli.main:main``
(``python -m proxy.cli`` runs the same); it exports nothing for other packages.
"""

__all__: list[str] = []
