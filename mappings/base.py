"""The contract between a v2 endpoint mapping and the service that runs it.

A mapping module is pure. It exports an ``Endpoint``: its v2 route, its OpenAPI description
(``mappings.openapi`` is assembled from these) and its functions:

- ``needs_system(req) -> bool`` (default: never): whether the service must
  first fetch the v4 ``/systems/{system_id}`` body and pass it as ``system`` (time zone,
  status, meta...).
- ``live_system(req, system, replies) -> bool`` (default: never): whether ``shape`` reads the
  system's live fields (status, report times) from ``system`` because the replies lack them.
  Only then is the ``system`` given to ``shape`` as fresh as a live reply; otherwise it may be
  up to a day old (``proxy.v2.system_lookup``): good for its time zone, and for a ``plan`` that
  accepts a start before its last_energy_at (a refusal is planned again on a fresh body).
- ``plan(req, system) -> list[V4Call]``: the v4 GETs that answer ``req``. Raises ``V2Error``
  for bad input. An empty list means "answer without any upstream call".
- ``follow(req, system, replies) -> list[V4Call]`` (optional, None): further calls needed once the
  replies so far are known (paging); an empty list means done.
- ``shape(req, system, replies) -> V2Response``: the v2 answer from the 2xx bodies of the
  calls, in the order they were planned.

Non-2xx upstream replies never reach ``shape``: the service translates them with
``mappings.errors.from_v4``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

System = dict[str, Any]
JSON = dict[str, Any]


@dataclass(frozen=True)
class V4Call:
    """One v4 GET below the API root, e.g. ``/systems/42/summary``.

    ``through``: the answer needs the data up to this epoch, so a cached reply fetched before
    it is not used (one fetched a reporting lag after it is final for this call). ``every``: a
    2xx reply up to that many seconds old will do (see ``proxy.cache.decision``).
    """

    path: str
    params: tuple[tuple[str, str], ...] = ()
    through: int | None = None
    every: int | None = None


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


def never(req: V2Request) -> bool:
    """The default ``needs_system``: the mapping needs no system body."""
    return False


def never_live(req: V2Request, system: System | None, replies: list[Any]) -> bool:
    """The default ``live_system``: the answer reads no live field of the system body."""
    return False


def always_live(req: V2Request, system: System | None, replies: list[Any]) -> bool:
    """``live_system`` of a mapping whose replies never carry the system's live fields."""
    return True


@dataclass(frozen=True)
class Endpoint:
    """One v2 route: the mapping answering it and its OpenAPI description.

    ``operation`` is the OpenAPI operationId (the 200 body schema is published as
    ``{operation}Response``); ``response`` None marks a route retired in v4 (answered 410);
    ``parameters`` are names of shared parameters (``mappings.schema.PARAMETERS``) or
    parameter objects; ``no_content``: a 204 is documented too.
    """

    route: str
    plan: Callable[[V2Request, System | None], list[V4Call]]
    shape: Callable[[V2Request, System | None, list[Any]], V2Response]
    operation: str
    description: str
    response: JSON | None
    parameters: tuple[str | JSON, ...] = ()
    needs_system: Callable[[V2Request], bool] = never
    live_system: Callable[[V2Request, System | None, list[Any]], bool] = never_live
    follow: Callable[[V2Request, System | None, list[Any]], list[V4Call]] | None = None
    no_content: bool = False
