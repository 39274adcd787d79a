"""data_dir is private (0700, files 0600, looser modes reported), audit.log is rotated by size,
and gunicorn's control socket is each instance's own."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from proxy.config import parse
from proxy.observability import audit
from proxy.serving.server import gunicorn_settings
from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """This process's umask set to ``mask`` (children inherit it), restored after."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(directory: Path) -> dict[str, int]:
    """The permission bits of ``directory`` and of everything below it, by relative path."""
    found = {".": stat.S_IMODE(directory.stat().st_mode)}
    for path in directory.rglob("*"):
        found[str(path.relative_to(directory))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.slow
def test_a_run_leaves_data_dir_0700_and_its_files_0600(tmp_path: Path) -> None:
    """Under a umask of 022, serve with traffic that writes the cache, the console history, the
    audit log and metrics leaves every directory 0700 and every file 0600 (issue 22, 4)."""
    data_dir = tmp_path / "var"
    with support.sandbox() as (sandbox_url, _):
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(
            support.config_text(sandbox_url, data_dir, '[cache]\nbackend = "file"\n')
        )
        with umask(0o022), support.serve_process(config_path, 1) as url:
            assert httpx2.get(url + "/api/v2/systems/1001/summary", params=AUTH).status_code == 200
            put = httpx2.put(url + "/api/v4/systems/config/1001/storm_guard", headers=TEAM)
            assert put.status_code == 403  # read-only: refused, and audited
            assert httpx2.get(url + "/metrics", headers=support.SCRAPE).status_code == 200
    found = modes(data_dir)
    assert "audit.log" in found and "gunicorn.ctl" not in found  # removed at shutdown
    assert any(name.startswith("cache") for name in found)
    for name, mode in found.items():
        is_dir = (data_dir / name).is_dir()
        assert mode == (0o700 if is_dir else 0o600), f"{name}: {oct(mode)}"


@pytest.mark.slow
def test_a_looser_data_dir_is_reported_at_start(tmp_path: Path) -> None:
    """A data_dir others can read, with a 0644 file in it, gets a warning naming them."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "tokens.json").write_text("{}")
    (data_dir / "tokens.json").chmod(0o644)
    with support.sandbox() as (sandbox_url, _):
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(support.config_text(sandbox_url, data_dir))
        with support.serve_process(config_path, 1):
            pass
    log = support.SERVE_LOGS[-1].read_text()
    warnings = [json.loads(line) for line in log.splitlines() if "readable by other" in line]
    assert len(warnings) == 1
    assert "chmod -R go-rwx" in warnings[0]["msg"]
    assert str(data_dir / "tokens.json") in warnings[0]["msg"]


def test_audit_log_is_rotated_by_size(tmp_path: Path) -> None:
    """Past ``audit_log_max_bytes`` the audit log moves to audit.log.1 (two kept), none grows."""
    config = parse(
        f'[server]\ndata_dir = "{tmp_path}"\naudit_log_max_bytes = 300\naudit_log_backups = 2\n'
    )
    for n in range(40):
        audit.write(config, {"n": n, "path": "/systems/config/1/storm_guard"})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.log", "audit.log.1", "audit.log.2"]
    assert all(p.stat().st_size <= 300 for p in tmp_path.iterdir())
    last = (tmp_path / "audit.log").read_text().splitlines()[-1]
    assert json.loads(last)["n"] == 39


def test_each_instance_has_its_own_control_socket(tmp_path: Path) -> None:
    """Gunicorn's control socket is in each instance's data_dir, not one path per user."""
    paths = {
        gunicorn_settings(parse(f'[server]\ndata_dir = "{tmp_path / name}"\n'), "asgi")[
            "control_socket"
        ]
        for name in ("a", "b")
    }
    assert paths == {str(tmp_path / "a" / "gunicorn.ctl"), str(tmp_path / "b" / "gunicorn.ctl")}
