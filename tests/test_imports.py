"""Tests share helpers only through tests/support.py; the benches do not import the tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    found = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported(path) if name.rsplit(".", 1)[-1].startswith("test_")
        )
        for path in (ROOT / "tests").rglob("*.py")
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_tests_import_only_the_support_module_of_the_tests() -> None:
    # tests/legacy holds a published v2 client the tests drive, not shared helpers.
    allowed = {"tests", "tests.support", "tests.legacy"}
    found = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in imported(path)
            if name.startswith("tests.")
            and name not in allowed
            and not name.startswith("tests.legacy.")
            and not name.startswith("tests.support.")
        )
        for path in (ROOT / "tests").rglob("*.py")
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_benches_do_not_import_the_tests() -> None:
    found = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported(path) if name == "tests" or name.startswith("tests.")
        )
        for path in (ROOT / "bench").rglob("*.py")
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_no_warning_filter_hides_a_deprecation() -> None:
    sources = [*(ROOT / "proxy").rglob("*.py"), *(ROOT / "mappings").rglob("*.py")]
    filtering = [
        str(path.relative_to(ROOT))
        for path in sources
        if "simplefilter(" in path.read_text() or "filterwarnings(" in path.read_text()
    ]
    assert filtering == []


def test_the_proxy_imports_without_a_deprecation_warning() -> None:
    modules = (
        "proxy.app, proxy.cli.main, proxy.tokens.oauth, proxy.tokens.renew, proxy.upstream.wire"
    )
    command = [sys.executable, "-W", "error::DeprecationWarning", "-c", f"import {modules}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
