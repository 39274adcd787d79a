"""`serve` on a small host: the process it started is gunicorn's master itself, no supervisor."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx2
import pytest

from tests import support

pytestmark = pytest.mark.slow  # real gunicorn workers

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_is_gunicorn_and_its_workers_only(tmp_path: Path, workers: int) -> None:
    with support.unmetered_sandbox() as sandbox_url:
        path = tmp_path / "proxy.toml"
        path.write_text(support.config_text(sandbox_url, tmp_path / "var"))
        before = set(support.children(os.getpid()))  # e.g. a Redis server an earlier test left
        with support.serve_process(path, workers):
            (serve,) = set(support.children(os.getpid())) - before  # the serve it started
            commands = [command_of(pid) for pid in [serve, *support.children(serve)]]
    assert b"proxy.serving.gunicorn_conf" in commands[0]  # serve became gunicorn's master
    assert str(path).encode() in commands[0]
    assert commands[1:] == [commands[0]] * workers  # forked workers, nothing else


def command_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")


def test_the_embedded_sandbox_is_gunicorns_child_and_ends_with_it(tmp_path: Path) -> None:
    sandbox_port = support.free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    path = tmp_path / "proxy.toml"
    embedded = f"[sandbox]\nenabled = true\nport = {sandbox_port}\n"
    path.write_text(support.config_text(sandbox_url, tmp_path / "var", server=embedded))
    before = set(support.children(os.getpid()))
    with support.serve_process(path, 1) as url:
        (serve,) = set(support.children(os.getpid())) - before
        commands = [command_of(pid) for pid in [serve, *support.children(serve)]]
        answered = httpx2.get(url + "/api/v2/systems/1001/summary", params=AUTH, timeout=30)
    assert b"proxy.serving.gunicorn_conf" in commands[0]
    assert sum(b"sandbox_while_parent_lives" in command for command in commands[1:]) == 1
    assert answered.status_code == 200, answered.text
    deadline = time.monotonic() + 10
    while listening(sandbox_port):  # the sandbox ends with gunicorn
        assert time.monotonic() < deadline, "the sandbox outlived gunicorn"
        time.sleep(0.1)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
