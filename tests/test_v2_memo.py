"""The memo of rendered v2 answers: what a cache hit costs it."""

from __future__ import annotations

from proxy.v2 import runner


class Counted(tuple[str, ...]):
    """A memo key that counts how often it is hashed (a real key's nested tuples are hashed
    anew each time: tuples keep no hash)."""

    hashed = 0

    def __hash__(self) -> int:
        Counted.hashed += 1
        return super().__hash__()


def test_a_memo_hit_hashes_its_key_once() -> None:
    memo = runner.Memo()
    key = Counted(("/api/v2/systems/{system_id}/stats", "demo"))
    memo.put(key, runner.Outcome(200, b"{}", (), "MISS"), [])  # no replies: not kept
    assert memo.get(key) is None
    memo.entries[key] = runner.Rendered(runner.Outcome(200, b"{}"), (("k", 1.0),), 100)
    Counted.hashed = 0
    assert memo.get(key) is not None
    assert Counted.hashed == 1
