"""Everything that can stop a request, as one hierarchy; each surface renders it in its own shape.

An error carries its v4 status, a title (v4's ``message``), ``details`` that are safe to show a
client (never a secret) and, when the client should come back later, ``retry_after``. Its text
(``str(error)``) may say more, for the log. The v2 and v4 renderers live in
``proxy.http.renderers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.base import V2Response
from mappings.errors import plan_name
from proxy.storage import REDIS_RETRY_AFTER, redis_unavailable

RETRY_AFTER = 30  # seconds a client is told to wait when the upstream cannot answer now


class ProxyError(Exception):
    """A request the proxy cannot answer as asked."""

    status = 500
    title = "Internal Server Error"
    details = "Internal error in the proxy."
    retry_after: int | None = None

    def __init__(
        self, details: str | None = None, *, reason: str = "", retry_after: int | None = None
    ) -> None:
        super().__init__(reason or details or self.details)
        if details is not None:
            self.details = details
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequest(ProxyError):
    """The request cannot be read (its head was refused before it reached the app)."""

    status = 400
    title = "Bad Request"
    details = "Bad request."


class NotAuthorized(ProxyError):
    """The caller's credentials do not allow this request."""

    status = 401
    title = "Not Authorized"
    details = "Not authorized to access requested resource."


class Reauthorization(NotAuthorized):
    """The tenant's Enphase authorization expired or was revoked; ``hint`` says what to run."""

    def __init__(self, hint: str) -> None:
        super().__init__(f"Tenant needs re-authorization: {hint}")
        self.hint = hint


class Forbidden(ProxyError):
    """The caller is known but may not do this."""

    status = 403
    title = "Forbidden"


class NotFound(ProxyError):
    """No such endpoint or resource."""

    status = 404
    title = "Not Found"
    details = "No such endpoint."


class MethodNotAllowed(ProxyError):
    """The path does not take this method; ``allow``: the methods it takes (its Allow header)."""

    status = 405
    title = "Method Not Allowed"
    details = "Method not allowed"

    def __init__(self, details: str | None = None, *, allow: tuple[str, ...] = ()) -> None:
        super().__init__(details)
        self.allow = allow


class RequestTimeout(ProxyError):
    """The request body did not arrive in time (or the client went away while sending it)."""

    status = 408
    title = "Request Timeout"
    details = "Request body not received in time."


class PayloadTooLarge(ProxyError):
    """The request body is over the limit."""

    status = 413
    title = "Payload Too Large"
    details = "Request body too large."


class UrlTooLong(ProxyError):
    """The request URL is over the limit."""

    status = 414
    title = "URI Too Long"
    details = "Request URI too long."


class Unprocessable(ProxyError):
    """The request is well-formed but cannot be served (a v4 date rule, say)."""

    status = 422
    title = "Unprocessable Entity"


class HeadersTooLarge(ProxyError):
    """Too many request headers, or too many bytes of them."""

    status = 431
    title = "Request Header Fields Too Large"
    details = "Request header fields too large."


class V2Refusal(ProxyError):
    """A v2 mapping refused the request: ``answer`` is the v2 error it chose, status and body.

    The mappings are pure and know nothing of the proxy, so they raise their own data error
    (``mappings.base.V2Error``); the v2 runner turns it into this one.
    """

    title = "Refused"

    def __init__(self, answer: V2Response) -> None:
        super().__init__(reason=f"a v2 mapping answered {answer.status}")
        self.status = answer.status
        self.answer = answer


class CodingNotImplemented(ProxyError):
    """The request uses a transfer coding the server does not implement."""

    status = 501
    title = "Not Implemented"
    details = "Transfer coding not implemented."


class InternalError(ProxyError):
    """A defect in the proxy: logged, and answered without a traceback."""


class Unavailable(ProxyError):
    """The answer cannot be had right now; the client should retry after ``retry_after``."""

    status = 503
    title = "Service Unavailable"
    details = "Data temporarily unavailable."
    retry_after = RETRY_AFTER


class AuthorizationUnavailable(Unavailable):
    """No access token could be had right now (token endpoint or lock trouble)."""

    details = "Authorization with Enphase temporarily unavailable."


class UpstreamUnavailable(Unavailable):
    """The upstream could not be asked or did not answer; a stale cached reply may serve."""


class TokenRefused(UpstreamUnavailable):
    """The upstream refused the tenant's token, a renewed one too: it is being replaced.

    A legacy client gets a 503 with Retry-After: a 401 would read as its own key revoked.
    """

    details = AuthorizationUnavailable.details


class UpstreamTimeout(UpstreamUnavailable):
    """The upstream did not answer within the call's deadline."""


class BadUpstreamReply(UpstreamUnavailable):
    """The upstream's reply was broken: cut short, over the size cap, or not HTTP."""

    status = 502
    title = "Bad Gateway"
    details = "The upstream's reply was incomplete or invalid."


class UpstreamGarbage(BadUpstreamReply):
    """The upstream answered 2xx with a body that is not the data its endpoint sends."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(f"The upstream sent no {endpoint} data")
        self.endpoint = endpoint


@dataclass(frozen=True)
class SpentWindow:
    """A spent quota window: the plan, its period and bounds, and its limit."""

    plan: str
    period: str
    period_start: int
    period_end: int
    limit: int


class TooManyStreams(ProxyError):
    """The team client already holds as many live streams as it may."""

    status = 429
    title = "Too Many Requests"
    details = "Too many concurrent streams for this client."
    retry_after = RETRY_AFTER


class QuotaRefused(UpstreamUnavailable):
    """The local quota refused the call until ``resume_at`` (the end of ``window``, or sooner:
    a provisional block's probe)."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, window: SpentWindow, now: float, resume_at: int | None = None) -> None:
        resume = window.period_end if resume_at is None else resume_at
        super().__init__(
            f"Usage limit exceeded for plan {plan_name(window.plan)}",
            retry_after=max(0, resume - int(now)),
        )
        self.window = window

    @property
    def minute(self) -> bool:
        """Whether a minute's budget refused the call (calls resume within a minute)."""
        return self.window.period == "minute"


def proxy_error(exc: Exception) -> ProxyError:
    """``exc`` as the proxy's error: itself, Redis out of reach for a failover's seconds (503),
    else an internal error (a defect)."""
    if isinstance(exc, ProxyError):
        return exc
    if redis_unavailable(exc):
        return Unavailable(retry_after=REDIS_RETRY_AFTER)
    return InternalError()
