"""The renewal policy: what a stored token set is, and what to do so a caller gets a good token.

Pure functions of a record and the time; no I/O.
"""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

from proxy.tokens.store import TokenRecord


class State(enum.StrEnum):
    """What a stored token set is worth now (its value is what ``auth status`` prints)."""

    OK = "ok"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    MISSING = "missing"
    NEEDS_REAUTHORIZATION = "needs_reauthorization"


class Action(enum.Enum):
    """What to do so that a caller gets a good access token."""

    USE = "use"  # the stored token is good
    FAIL = "fail"  # nothing can be done without a human
    REFRESH = "refresh"  # the refresh-token grant
    PASSWORD = "password"  # the password grant
    MARK = "mark"  # store that a human must authorize again

    @property
    def settled(self) -> bool:
        """Whether the action needs no call to the token endpoint nor a write."""
        return self in (Action.USE, Action.FAIL)


def state(record: TokenRecord | None, now: float, margin: float) -> State:
    """What ``record`` is worth at ``now`` when tokens are renewed ``margin`` s before expiry."""
    if record is not None and record.reauthorize:
        return State.NEEDS_REAUTHORIZATION
    if record is None or not record.access_token:
        return State.MISSING
    if record.expires_at is not None and record.expires_at <= now:
        return State.EXPIRED
    if record.expires_at is not None and record.expires_at - margin <= now:
        return State.EXPIRING
    return State.OK


def action(
    record: TokenRecord | None,
    now: float,
    margin: float,
    *,
    can_password: bool,
    rejected: str | None = None,
    force: bool = False,
) -> Action:
    """What to do with ``record``; ``rejected``: a token the upstream refused; ``force``: renew."""
    current = state(record, now, margin)
    if current is State.MISSING:
        return Action.PASSWORD if can_password else Action.FAIL
    if current is State.NEEDS_REAUTHORIZATION or record is None:
        return Action.FAIL
    dead = current is State.EXPIRED or record.access_token == rejected
    if not (dead or force or current is State.EXPIRING):
        return Action.USE
    if record.refresh_token:
        return Action.REFRESH
    if can_password:
        return Action.PASSWORD
    return Action.MARK if dead else Action.USE


def needs_human(current: State, has_refresh_token: bool, can_password: bool) -> bool:
    """Whether no token can be had for the tenant until a human authorizes it again."""
    if current is State.NEEDS_REAUTHORIZATION:
        return True
    unusable = current is State.MISSING or (current is State.EXPIRED and not has_refresh_token)
    return unusable and not can_password


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, unverified (v4 tells its user and expiry there); {}."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
