"""`enphase-proxy init` end to end, with the sandbox standing in for Enphase: the browser's
login comes back to init, its configuration passes check-config and answers a legacy request."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from proxy.sandbox import DEMO, App, SandboxSettings
from tests import support

pytestmark = pytest.mark.slow  # init and serve in their own processes

SECRETS = {"ENPHASE_API_KEY": DEMO.api_key, "ENPHASE_CLIENT_SECRET": DEMO.client_secret}


def test_init_writes_a_working_configuration_without_secrets_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redirect = f"http://127.0.0.1:{support.free_port()}/oauth/callback"
    app = App(
        DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 10**6, 10**9, (redirect,)
    )
    with support.sandbox(SandboxSettings(apps=[app])) as (sandbox_url, _):
        path = tmp_path / "enphase-proxy.toml"
        port = support.free_port()
        command = [sys.executable, "-m", "proxy.cli", "init", "--config", str(path)]
        command += ["--client-id", DEMO.client_id, "--plan", "kilowatt", "--user-id", "me"]
        command += ["--port", str(port), "--redirect-uri", redirect]
        command += [
            "--api-root",
            f"{sandbox_url}/api/v4",
            "--token-url",
            f"{sandbox_url}/oauth/token",
        ]
        command += ["--authorize-url", f"{sandbox_url}/oauth/authorize"]
        init = subprocess.Popen(
            command,
            cwd=support.ROOT,
            env={**os.environ, **SECRETS},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert init.stdout is not None
        printed = [init.stdout.readline(), init.stdout.readline(), init.stdout.readline()]
        url = printed[1].strip()
        assert url.startswith(f"{sandbox_url}/oauth/authorize?"), printed
        assert printed[2].startswith("Waiting for the browser"), printed
        # The homeowner's browser: Enlighten approves and redirects back to init.
        came_back = httpx2.get(url, follow_redirects=True, timeout=30)
        out, err = init.communicate(timeout=60)
        assert init.returncode == 0, err
        assert came_back.status_code == 200 and "authorized" in came_back.text
        assert "Logged in: the v4 API lists" in out
        key = re.search(r"^  key = (\S+)", out, re.MULTILINE)
        assert key, out

        text = path.read_text()
        assert DEMO.api_key not in text and DEMO.client_secret not in text
        assert key.group(1) not in text  # the legacy key is stored as its sha256
        assert 'api_key_env = "ENPHASE_API_KEY"' in text

        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        checked = subprocess.run(
            [sys.executable, "-m", "proxy.cli", "check-config", str(path)],
            cwd=support.ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr
        with support.serve_process(path, 1) as proxy_url:
            legacy = httpx2.get(
                proxy_url + "/api/v2/systems",
                params={"key": key.group(1), "user_id": "me"},
                timeout=30,
            )
        grants = httpx2.get(sandbox_url + "/_sandbox/stats").json()["token_grants"]
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["systems"]
    assert grants["authorization_code"] == 1  # serve used the tokens init obtained
