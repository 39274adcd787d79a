"""Phased uploads: each system's data and last_report_at advance only at its own uploads."""

from __future__ import annotations

from itertools import pairwise

from proxy.sandbox import bodies
from proxy.sandbox.systems import build_systems

from .conftest import NOW

PHASED = build_systems(NOW, phased=True)


def uploads(system_id: int, hours: int) -> list[int]:
    """The moments in ``hours`` from NOW at which the system's summary changed (minute steps)."""
    system = PHASED[system_id]
    changed, before = [], bodies.summary(system, NOW)
    for t in range(NOW + 60, NOW + hours * 3600, 60):
        after = bodies.summary(system, t)
        if after["last_report_at"] != before["last_report_at"]:
            changed.append(t)
            assert after["last_report_at"] <= t
        else:  # the data waits for the upload
            assert after["energy_today"] == before["energy_today"]
            assert after["last_interval_end_at"] == before["last_interval_end_at"]
        before = after
    return changed


def test_each_system_uploads_every_15_minutes_at_a_phase_of_its_own() -> None:
    phases = set()
    for system_id in (1001, 1002, 1004):
        changed = uploads(system_id, 2)
        assert {b - a for a, b in pairwise(changed)} == {900}
        phases.add(changed[0] % 900)
    assert len(phases) == 3  # not all on the same boundary
    assert 0 not in {PHASED[i].upload_phase for i in (1001, 1002, 1004)}


def test_a_cellular_system_uploads_every_few_hours() -> None:
    changed = uploads(1003, 12)
    assert {b - a for a, b in pairwise(changed)} == {3 * 3600}
    sparse = [s for s in PHASED.values() if s.sparse and s.system_id != 1003]
    assert {s.report_every for s in sparse} > {3 * 3600}  # 3 to 6 hours
    assert all(3 * 3600 <= s.report_every <= 6 * 3600 for s in sparse)


def test_without_phases_every_system_uploads_on_the_boundaries() -> None:
    aligned = build_systems(NOW)
    assert {s.upload_phase for s in aligned.values()} == {0}
    assert bodies.summary(aligned[1001], NOW)["last_report_at"] % 900 == bodies.REPORT_LAG
