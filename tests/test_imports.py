"""Structure rules: the proxy's packages meet only through their public API, with no cycle, and
no two public classes share a name; tests share helpers only through tests/support.py; benches
neither import the tests nor subclass the proxy."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

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


PROXY = ROOT / "proxy"
# The cache package's own API is its developer's to draw: until it has one, its modules may be
# imported by name, and its modules may import other packages' modules.
INTERNALS_ALLOWED = ""


def module_name(path: Path) -> str:
    """The dotted name of a module file under the project root."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The part of the house ``module`` belongs to: its package under proxy/, or itself."""
    parts = module.split(".")
    if parts[0] == "proxy" and len(parts) > 1 and (PROXY / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module if parts[0] == "proxy" else parts[0]


def imports_of(path: Path) -> list[tuple[str, str | None]]:
    """(module, name or None) for each import in ``path``, relative imports resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(module, alias.name) for alias in node.names]
    return found


def public_api(package: str) -> set[str]:
    """The names a package's ``__init__`` lists in ``__all__``."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    for node in ast.parse(init.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            return set(ast.literal_eval(node.value))
    return set()


def is_package(name: str) -> bool:
    """Whether ``name`` is a package of the proxy (not one of its top-level modules)."""
    return name.startswith("proxy.") and ROOT.joinpath(*name.split(".")).is_dir()


def proxy_modules() -> list[Path]:
    return sorted(PROXY.rglob("*.py"))


def test_every_package_of_the_proxy_names_its_public_api() -> None:
    missing = [
        str(init.relative_to(ROOT))
        for init in PROXY.glob("*/__init__.py")
        if not ast.get_docstring(ast.parse(init.read_text()))
        or ("__all__" not in init.read_text() and unit(module_name(init)) != INTERNALS_ALLOWED)
    ]
    assert missing == []


def test_packages_import_each_other_only_through_their_public_api() -> None:
    reached: list[str] = []
    for path in proxy_modules():
        here = unit(module_name(path))
        if here == INTERNALS_ALLOWED:
            continue
        for module, name in imports_of(path):
            there = unit(module)
            if there in (here, INTERNALS_ALLOWED) or not is_package(there):
                continue
            if module != there or (name is not None and name not in public_api(there)):
                reached.append(f"{module_name(path)}: {module}{'.' + name if name else ''}")
    assert reached == []


def test_no_import_cycle_between_the_parts_of_the_proxy() -> None:
    edges: dict[str, set[str]] = {}
    for path in [*proxy_modules(), *(ROOT / "mappings").rglob("*.py")]:
        here = unit(module_name(path))
        for module, _ in imports_of(path):
            there = unit(module)
            if there != here and (there.startswith("proxy") or there == "mappings"):
                edges.setdefault(here, set()).add(there)

    def cycle_from(start: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(edges.get(trail[-1], ())):
            if nxt == start:
                return (*trail, nxt)
            if nxt not in trail:
                found = cycle_from(start, (*trail, nxt))
                if found:
                    return found
        return None

    cycles = {cycle_from(part, (part,)) for part in edges} - {None}
    assert cycles == set()


# Read their configuration from the environment of a gunicorn worker when imported.
WORKER_ENTRIES = {"proxy.serving.asgi", "proxy.serving.gunicorn_conf"}


@pytest.mark.slow
def test_every_module_of_the_proxy_imports_in_a_fresh_interpreter() -> None:
    modules = [
        module_name(path)
        for path in proxy_modules()
        if path.name != "__main__.py" and module_name(path) not in WORKER_ENTRIES
    ]

    def failure(module: str) -> str:
        """Why ``module`` cannot be imported first in an interpreter (empty when it can)."""
        command = [sys.executable, "-c", f"import {module}"]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        return f"{module}: {result.stderr}" if result.returncode else ""

    with ThreadPoolExecutor(2) as pool:  # two interpreters at a time, on CI's two cores
        assert [problem for problem in pool.map(failure, modules) if problem] == []


def test_the_benches_watch_the_upstream_through_its_taps_not_by_subclassing() -> None:
    found = []
    for path in (ROOT / "bench").rglob("*.py"):
        tree = ast.parse(path.read_text())
        from_proxy = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxy")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                found += [
                    f"{path.name}: {node.name}({base.id})"
                    for base in node.bases
                    if isinstance(base, ast.Name) and base.id in from_proxy
                ]
            if isinstance(node, ast.Assign):
                found += [
                    f"{path.name}: sets .{target.attr}"
                    for target in node.targets
                    if isinstance(target, ast.Attribute) and target.attr == "inner"
                ]
    assert found == []


def test_no_two_public_classes_of_the_proxy_share_a_name() -> None:
    where: dict[str, list[str]] = {}
    for path in [*proxy_modules(), *sorted((ROOT / "mappings").rglob("*.py"))]:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(module_name(path))
    assert {name: found for name, found in where.items() if len(found) > 1} == {}
