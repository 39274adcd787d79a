"""The command line as a user runs it: help, check-config, and serve under real gunicorn workers."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from proxy.config import Config
from proxy.serving.server import connection_cap, gunicorn_settings
from tests import support
from tests.support import free_port, wait_for_port

EXAMPLE = support.ROOT / "config.example.toml"
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
SCRAPE = {"Authorization": "Bearer demo-scrape-key"}  # the example's scrape key


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "proxy.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=60)


def test_help_documents_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "sandbox", "check-config", "auth"):
        assert command in result.stdout
    serve_help = run_cli("serve", "--help").stdout
    for option in ("--config", "--host", "--port", "--workers"):
        assert option in serve_help


def test_check_config_accepts_the_example() -> None:
    result = run_cli("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_lists_every_problem_with_line_and_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    text = text.replace("workers = 2", 'workers = "many"').replace("port = 8080", "prot = 8080")
    text = text.replace('grant = "password"', 'grant = "implicit"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = run_cli("check-config", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "server.workers" in result.stderr
    assert "server.prot: unknown setting" in result.stderr
    assert "grant" in result.stderr
    assert "line " in result.stderr


def test_check_config_refuses_demo_keys_against_real_enphase(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("http://127.0.0.1:8091", "https://api.enphaseenergy.com")
    real = tmp_path / "real.toml"
    real.write_text(text)
    result = run_cli("check-config", str(real))
    assert result.returncode == 1
    assert "demo" in result.stderr


def test_check_config_reports_invalid_toml_and_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = ")
    for path in (broken, tmp_path / "missing.toml"):
        result = run_cli("check-config", str(path))
        assert result.returncode == 1
        assert "Traceback" not in result.stderr


def test_secrets_may_come_from_the_environment(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'client_secret = "sandbox-client-secret"', 'client_secret_env = "TEST_CLIENT_SECRET"'
    )
    path = tmp_path / "env.toml"
    path.write_text(text)
    missing = run_cli("check-config", str(path))
    assert missing.returncode == 1
    assert "TEST_CLIENT_SECRET" in missing.stderr
    env = {**os.environ, "TEST_CLIENT_SECRET": "x"}
    command = [sys.executable, "-m", "proxy.cli", "check-config", str(path)]
    ok = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, env=env)
    assert ok.returncode == 0, ok.stderr


def example_on_free_ports(tmp_path: Path) -> tuple[Path, int]:
    """The example config with its sandbox on a free port and data in tmp_path; (path, port)."""
    port = free_port()
    text = EXAMPLE.read_text().replace("8091", str(port))
    text = text.replace('data_dir = "var"', f'data_dir = "{tmp_path / "var"}"')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path, port


@pytest.mark.slow
def test_serve_runs_the_example_with_its_embedded_sandbox(tmp_path: Path) -> None:
    config, _ = example_on_free_ports(tmp_path)
    with support.serve_process(config, 2) as url, httpx2.Client(base_url=url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        summary = c.get("/api/v2/systems/1001/summary", params=AUTH)
        assert summary.status_code == 200, summary.text
        assert summary.json()["system_id"] == 1001
        for _ in range(10):
            c.get("/api/v2/systems/1001/summary", params=AUTH)
        team = c.get(
            "/api/v4/systems/1001/summary", headers={"Authorization": "Bearer demo-team-key"}
        )
        assert team.status_code == 200
        deadline = time.monotonic() + 5  # workers hold their counts for up to half a second
        route = 'route="/api/v2/systems/{system_id}/summary"'
        while route not in c.get("/metrics", headers=SCRAPE).text:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        metrics = c.get("/metrics", headers=SCRAPE).text
        assert "enphase_proxy_requests_total" in metrics
        assert "enphase_proxy_upstream_requests_total" in metrics
        assert "enphase_proxy_cache_total" in metrics


@pytest.mark.slow
@pytest.mark.serial  # the request must be in flight 0.7 s after it is sent
def test_graceful_shutdown_finishes_in_flight_requests(tmp_path: Path) -> None:
    config, sandbox_port = example_on_free_ports(tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", "1"]
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    child = subprocess.Popen(command, stdout=log, stderr=log, cwd=support.ROOT)
    try:
        wait_for_port(port, 30)
        url = f"http://127.0.0.1:{port}"
        assert httpx2.get(url + "/healthz").status_code == 200
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        httpx2.post(sandbox + "/_sandbox/faults", json={"latency": 2.0})
        with concurrent.futures.ThreadPoolExecutor() as pool:
            slow = pool.submit(
                httpx2.get, url + "/api/v2/systems/1002/summary", params=AUTH, timeout=30
            )
            time.sleep(0.7)
            child.send_signal(signal.SIGTERM)
            response = slow.result()
        assert response.status_code == 200, response.text
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        log.close()


def test_serve_runs_gunicorns_asgi_worker_with_bounded_heads_and_connections() -> None:
    """Request heads, idle waits and connections are bounded by gunicorn settings (issue 15)."""
    config = Config()
    settings = gunicorn_settings(config, "asgi")
    assert settings["worker_class"] == "proxy.serving.worker.BoundedASGIWorker"
    assert settings["limit_request_fields"] == 100
    assert settings["limit_request_field_size"] == 8190
    assert settings["keepalive"] == config.server.keepalive
    assert connection_cap(config, 1024) == 1024 - 100 - 64  # leaves room for upstream sockets
    assert connection_cap(config, 1 << 20) == 1000


def test_a_worker_keeps_the_loaded_app_out_of_full_collections() -> None:
    """Once a worker has loaded the app, what loading made is frozen out of the collector's
    reach: full collections walking it stalled cache hits for tens of ms (issue 21's p99)."""
    code = (
        "import gc, proxy.serving.asgi; from proxy.serving import gunicorn_conf as conf; "
        "conf.post_worker_init(None); print(gc.get_freeze_count())"
    )
    env = {**os.environ, "ENPHASE_PROXY_CONFIG": str(EXAMPLE)}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=support.ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 20_000  # the app, its mappings and libraries (about 55,000)
