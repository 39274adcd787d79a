"""The ``enphase-proxy`` command line: serve, sandbox, quota, check-config and auth."""
