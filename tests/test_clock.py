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
