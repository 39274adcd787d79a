"""Console sessions and login attempts, kept in the console's history store (shared by workers
like the quota counts), so that sign-out and expiry end a session everywhere and failed logins
are counted across workers.

A session cookie is ``<expiry>.<nonce>.<HMAC under the admin key>``: a forged or expired one is
refused without a look-up, and changing the admin key ends every session. A session is live
while its record (named by the cookie's digest) exists and was not ended.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from proxy.console.history import History

SESSION_SECONDS = 8 * 3600
WINDOW = 60  # seconds of a window of failed logins; this one and the last are counted
PER_ADDRESS = 10  # failed logins from one address in a window before it is refused
OVERALL = 100  # failed logins from anywhere in a window before every login is refused


def session_token(admin_key: str, expires: int, nonce: str | None = None) -> str:
    """A session cookie value valid until ``expires`` (a fresh ``nonce`` unless given)."""
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new(admin_key.encode(), f"console:{expires}:{nonce}".encode(), hashlib.sha256)
    return f"{expires}.{nonce}.{mac.hexdigest()}"


def session_valid(admin_key: str | None, token: str, now: float) -> bool:
    """Whether ``token`` is an unexpired session cookie made with ``admin_key``."""
    expires, _, rest = token.partition(".")
    nonce, _, _ = rest.partition(".")
    if not admin_key or not expires.isdigit() or int(expires) <= now or not nonce:
        return False
    expected = session_token(admin_key, int(expires), nonce)
    return hmac.compare_digest(token.encode(), expected.encode())


def _bucket(token: str) -> str:
    return "session:" + hashlib.sha256(token.encode()).hexdigest()


async def start(history: History, admin_key: str, now: float) -> str:
    """A new session's cookie value, recorded as live until it expires."""
    expires = int(now) + SESSION_SECONDS
    token = session_token(admin_key, expires)
    await history.update(_bucket(token), {}, {"expires": expires}, expires)
    return token


async def live(history: History, admin_key: str | None, token: str, now: float) -> bool:
    """Whether ``token`` is a valid session that was started here and not ended."""
    if not session_valid(admin_key, token, now):
        return False
    record = (await history.read([_bucket(token)]))[_bucket(token)]
    return record.get("expires", 0) > now and "ended" not in record


async def end(history: History, token: str) -> None:
    """End the session ``token`` (for every worker)."""
    expires, _, _ = token.partition(".")
    if expires.isdigit():
        await history.update(_bucket(token), {}, {"ended": 1}, int(expires))


def _window(now: float) -> str:
    return f"login:{int(now) // WINDOW}"


async def refused(history: History, address: str, now: float) -> int | None:
    """Seconds to wait before trying again, when too many logins failed in the last minute
    or two (this window and the one before)."""
    windows = await history.read([_window(now), _window(now - WINDOW)])

    def total(name: str) -> float:
        return sum(counts.get(name, 0) for counts in windows.values())

    if total(f"from:{address}") >= PER_ADDRESS or total("all") >= OVERALL:
        return WINDOW - int(now) % WINDOW
    return None


async def failed(history: History, address: str, now: float) -> None:
    """Count a failed login from ``address``."""
    until = (int(now) // WINDOW + 2) * WINDOW
    await history.update(_window(now), {"all": 1, f"from:{address}": 1}, {}, until)
