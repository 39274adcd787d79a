"""The contract between a v2 endpoint mapping and the service that runs it.

A mapping module is pure. It exposes:

- ``needs_system(req) -> bool`` (optional; absent means False): whether the service must
  first fetch the v4 ``/systems/{system_id}`` body and pass it as ``system`` (time zone,
  status, meta...).
- ``plan(req, system) -> list[V4Call]``: the v4 GETs that answer ``req``. Raises ``V2Error``
  for bad input. An empty list means "answer without any upstream call".
- ``follow(req, system, replies) -> list[V4Call]`` (optional): further calls needed once the
  replies so far are known (paging); an empty list means done.
- ``shape(req, system, replies) -> V2Response``: the v2 answer from the 2xx bodies of the
  calls, in the order they were planned.

Non-2xx upstream replies never reach ``shape``: the service translates them with
``mappings.errors.from_v4``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class V4Call:
    """One v4 GET below the API root, e.g. ``/systems/42/summary``."""

    path: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class V2Request:
    """A legacy request after authentication: path parameters, query pairs and the clock."""

    path_params: dict[str, str]
    query: tuple[tuple[str, str], ...]
    now: int

    def get(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (``name[]`` counts too), or None."""
        values = self.getlist(name)
        return values[0] if values else None

    def getlist(self, name: str) -> list[str]:
        """Every value of query parameter ``name`` and ``name[]``, in request order."""
        return [v for k, v in self.query if k in (name, f"{name}[]")]


@dataclass(frozen=True)
class V2Response:
    """A v2 answer: JSON-able body, status and extra headers."""

    body: Any
    status: int = 200
    headers: tuple[tuple[str, str], ...] = field(default=())


class V2Error(Exception):
    """A v2-shaped error answer."""

    def __init__(self, status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers

    def response(self) -> V2Response:
        """This error as a V2Response."""
        return V2Response(self.body, self.status, self.headers)
