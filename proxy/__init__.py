"""enphase-proxy: Enphase API v2 compatibility proxy, token broker and quota cache for API v4."""

import warnings

import authlib.deprecate

# authlib 1.9 warns at import that its httpx integration will move to "httpx2"; it works as is.
warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
