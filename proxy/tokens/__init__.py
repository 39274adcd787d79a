"""Each tenant's Enphase v4 OAuth tokens: obtained, stored and renewed ahead of expiry.

Below ``upstream`` (whose Authorize layer asks the broker for tokens) and the inbound surfaces;
above ``storage`` and ``observability``. policy: what a stored set is worth and what to do
(pure); oauth: the token endpoint (authlib on httpx2); renewal: one renewal under the
cross-process lock; renew: the same in a child process that survives its worker; store: where
token sets live; login_state: pending browser logins; keepalive: token health and the
keep-alive rule; maintenance: the one loop renewing tokens ahead of expiry and keeping them
alive; broker: what the rest of the proxy calls (it runs the maintenance loop).

Public API: ``TokenBroker`` and its ``TokenStatus``; the errors; ``PendingLogins``; ``State``
and ``jwt_claims``; ``TokenHealth`` / ``token_health`` (what the console shows) and
``KEEP_ALIVE_AGE``.
"""

from proxy.tokens.broker import TokenBroker, TokenStatus
from proxy.tokens.errors import NeedsReauthorization, TokenError, TokenUnavailable, hint
from proxy.tokens.keepalive import KEEP_ALIVE_AGE, TokenHealth
from proxy.tokens.keepalive import health as token_health
from proxy.tokens.login_state import PendingLogins
from proxy.tokens.policy import State, jwt_claims

__all__ = [
    "KEEP_ALIVE_AGE",
    "NeedsReauthorization",
    "PendingLogins",
    "State",
    "TokenBroker",
    "TokenError",
    "TokenHealth",
    "TokenStatus",
    "TokenUnavailable",
    "hint",
    "jwt_claims",
    "token_health",
]
