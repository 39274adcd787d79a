"""enphase-proxy: Enphase API v2 compatibility proxy, token broker and quota cache for API v4."""
