"""Time comes from the injected clock: no code reads the wall or monotonic clock itself."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("proxy", "mappings", "bench")
ALLOWED = {Path("proxy/clock.py")}
READS = re.compile(
    r"\btime\.(time|monotonic)(_ns)?\b"
    r"|\bfrom\s+time\s+import\s+[^\n]*\b(time|monotonic)\b"
    r"|\bdatetime\.now\(|\bdatetime\.utcnow\(|\bdate\.today\("
)


def reads_outside_the_clock() -> list[str]:
    """``file:line: text`` of every clock read outside proxy/clock.py."""
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if READS.search(line.split("#", 1)[0]):
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_module_reads_the_clock_itself() -> None:
    assert reads_outside_the_clock() == []


def test_the_scan_sees_a_clock_read(tmp_path: Path) -> None:
    line = "    started = time.monotonic()"
    assert READS.search(line)
    assert READS.search("from time import time")
    assert READS.search("now = dt.datetime.now(dt.UTC)")
    assert not READS.search("started = time.perf_counter()")
    assert not READS.search("moment = self.clock.now()")
