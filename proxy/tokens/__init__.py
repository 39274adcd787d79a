"""Each tenant's Enphase v4 OAuth tokens: obtained, stored and renewed ahead of expiry.

policy: what a stored set is worth and what to do (pure); oauth: the token endpoint (authlib
on httpx2); renewal: one renewal under the cross-process lock; renew: the same in a child
process that survives its worker; broker: what the rest of the proxy calls.
"""

from proxy.tokens.broker import TokenBroker, TokenStatus
from proxy.tokens.errors import NeedsReauthorization, TokenError, TokenUnavailable, hint

__all__ = [
    "NeedsReauthorization",
    "TokenBroker",
    "TokenError",
    "TokenStatus",
    "TokenUnavailable",
    "hint",
]
