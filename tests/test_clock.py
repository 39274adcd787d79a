"""The clock: the virtual one moves only when told; nothing else reads the wall clock."""

import asyncio

import pytest

from proxy.clock import SYSTEM, VirtualClock


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(1_000.0)
    assert clock.now() == clock.monotonic() == 1_000.0
    clock.advance(60)
    assert clock.now() == 1_060.0
    asyncio.run(clock.sleep(40))
    assert clock.now() == 1_100.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_system_clock_is_the_wall_clock() -> None:
    import time

    assert abs(SYSTEM.now() - time.time()) < 5


def test_virtual_timers_run_in_order_as_the_clock_passes_their_moment() -> None:
    clock = VirtualClock(1_000.0)
    ran: list[tuple[str, float]] = []
    clock.call_at(1_030, lambda: ran.append(("b", clock.now())))
    clock.call_at(1_010, lambda: ran.append(("a", clock.now())))
    clock.call_at(1_010, lambda: ran.append(("a2", clock.now())))
    clock.call_at(1_020, lambda: ran.append(("never", clock.now()))).cancel()
    assert clock.next_timer() == 1_010
    clock.advance(25)
    assert ran == [("a", 1_010), ("a2", 1_010)] and clock.now() == 1_025
    assert clock.next_timer() == 1_030  # the cancelled one is gone
    asyncio.run(clock.sleep(10))
    assert ran[-1] == ("b", 1_030) and clock.next_timer() is None
