"""``python -m proxy.cli``: the enphase-proxy command line."""

from proxy.cli.main import main

raise SystemExit(main())
