"""``enphase-proxy auth ...`` end to end against the sandbox, with no secret in any output."""

from __future__ import annotations

import argparse
import getpass
import io
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from proxy.cli import auth as auth_cli
from proxy.config import load
from proxy.sandbox import Running, SandboxSettings, serve_in_thread
from tests import support

ConfigFile = Callable[..., str]  # writes a config file for the sandbox, returns its path
SECRETS = ("sandbox-client-secret", "demo-password", "sandbox-api-key")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Running]:
    """The sandbox in a thread."""
    with serve_in_thread(SandboxSettings()) as running:
        yield running


@pytest.fixture
def config_file(sandbox: Running, tmp_path: Path) -> ConfigFile:
    """Writes a config file for the sandbox and returns its path."""

    def write(**kwargs: Any) -> str:
        path = tmp_path / "proxy.toml"
        text = support.token_config_text(sandbox.url, Path("data"), **kwargs)
        path.write_text(text.replace('password = "demo-password"', 'password_env = "TEST_PW"'))
        return str(path)

    return write


def run(*argv: str) -> int:
    """Run an ``auth`` command through an argparse tree like the real CLI's."""
    parser = argparse.ArgumentParser(prog="enphase-proxy")
    auth_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["auth", *argv])
    status: int = args.func(args)
    return status


def code_for(config_path: str) -> str:
    """A fresh authorization code, by following the sandbox's authorize redirect."""
    config = load(config_path)
    url = auth_cli.authorize_url(config, config.tenants["demo"], "test-state")
    location = httpx2.get(url).headers["location"]
    return support.present(re.search(r"code=([^&]+)", location)).group(1)


def assert_secret_free(text: str, *extra: str | None) -> None:
    """No configured secret and none of ``extra`` occurs in ``text``."""
    for secret in (*SECRETS, *extra):
        assert not secret or secret not in text


def test_login_with_code_then_status(
    config_file: ConfigFile, sandbox: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(grant="authorization_code", password=False)
    code = code_for(path)
    assert run("login", "--config", path, "--tenant", "demo", f"--code={code}") == 0
    out = capsys.readouterr().out
    assert f"{sandbox.url}/oauth/authorize?response_type=code&client_id=sandbox-client-id" in out
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fcallback&state=" in out
    assert "state=demo" not in out  # a random state of this login, not the tenant's name
    assert "/oauth/callback" in out and "authorized" in out
    record = support.present(support.stored(load(path), "demo"))
    assert support.token_works(sandbox.url, support.present(record.access_token))
    assert run("status", "--config", path) == 0
    status = capsys.readouterr().out
    assert re.search(r"demo\s+ok\s+access token ok, expires \S+Z; refresh token stored", status)
    assert_secret_free(out + status, record.access_token, record.refresh_token, code)


def test_login_reads_a_pasted_redirect_url(
    config_file: ConfigFile, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(grant="authorization_code", password=False)
    pasted = f"http://127.0.0.1:8080/oauth/callback?code={code_for(path)}&state=demo\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(pasted))
    assert run("login", "--config", path, "--tenant", "demo") == 0
    assert "tenant demo: authorized" in capsys.readouterr().out


def test_login_with_a_bad_code_fails_cleanly(
    config_file: ConfigFile, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(grant="authorization_code", password=False)
    assert run("login", "--config", path, "--tenant", "demo", "--code", "nope") == 1
    err = capsys.readouterr().err
    assert "invalid_grant" in err and "nope" not in err


def test_password_from_env_and_from_prompt(
    config_file: ConfigFile, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file()
    monkeypatch.setenv("TEST_PW", "demo-password")
    assert run("password", "--config", path, "--tenant", "demo") == 0
    monkeypatch.delenv("TEST_PW")
    prompts: list[str] = []

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        return "demo-password"

    monkeypatch.setattr(getpass, "getpass", typed)
    assert run("password", "--config", path, "--tenant", "demo") == 0
    assert prompts == ["Enlighten password for demo@example.com: "]
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "wrong-password")
    assert run("password", "--config", path, "--tenant", "demo") == 1
    captured = capsys.readouterr()
    assert captured.out.count("authorized with the password grant") == 2
    record = support.present(support.stored(load(path), "demo"))
    text = captured.out + captured.err
    assert_secret_free(text, "wrong-password", record.access_token, record.refresh_token)


def test_import_without_refresh_token_then_status(
    config_file: ConfigFile,
    sandbox: Running,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = config_file(grant="authorization_code", password=False)
    tokens = support.fresh_tokens(sandbox.url)
    monkeypatch.setenv(auth_cli.ACCESS_ENV, tokens["access_token"])
    monkeypatch.delenv(auth_cli.REFRESH_ENV, raising=False)
    assert run("import", "--config", path, "--tenant", "demo", "--expires-in", "600") == 0
    out = capsys.readouterr().out
    assert "without a refresh token" in out and "auth login --tenant demo" in out
    record = support.present(support.stored(load(path), "demo"))
    assert (
        record.refresh_token is None
        and abs(support.present(record.expires_at) - time.time() - 600) < 5
    )
    assert run("status", "--config", path) == 0
    status = capsys.readouterr().out
    assert "no refresh token" in status
    assert_secret_free(out + status, tokens["access_token"])


def test_import_with_refresh_token_and_jwt_expiry(
    config_file: ConfigFile,
    sandbox: Running,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = config_file(grant="authorization_code", password=False)
    tokens = support.fresh_tokens(sandbox.url)
    answers = iter([tokens["access_token"], tokens["refresh_token"]])
    monkeypatch.delenv(auth_cli.ACCESS_ENV, raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    assert run("import", "--config", path, "--tenant", "demo") == 0
    record = support.present(support.stored(load(path), "demo"))
    assert record.refresh_token == tokens["refresh_token"]
    assert abs(support.present(record.expires_at) - (time.time() + tokens["expires_in"])) < 5
    out = capsys.readouterr().out
    assert_secret_free(out, tokens["access_token"], tokens["refresh_token"])


def test_import_needs_an_expiry_for_opaque_tokens(
    config_file: ConfigFile, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(grant="authorization_code", password=False)
    monkeypatch.setenv(auth_cli.ACCESS_ENV, "opaque-token")
    assert run("import", "--config", path, "--tenant", "demo") == 2
    assert "--expires-at or --expires-in" in capsys.readouterr().err
    assert (
        run(
            "import",
            "--config",
            path,
            "--tenant",
            "demo",
            "--expires-at",
            "2030-01-01T00:00:00+00:00",
        )
        == 0
    )
    assert support.present(support.stored(load(path), "demo")).expires_at == 1893456000


def test_status_of_a_tenant_never_authorized(
    config_file: ConfigFile, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(grant="authorization_code", password=False)
    assert run("status", "--config", path) == 1
    out = capsys.readouterr().out
    assert "missing" in out and "enphase-proxy auth login --tenant demo" in out


def test_unknown_tenant_and_bad_config(
    config_file: ConfigFile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file()
    assert run("password", "--config", path, "--tenant", "nobody") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[tokens]\nstore = 'nowhere'\n")
    assert run("status", "--config", str(bad)) == 2
    assert "tokens.store: must be one of" in capsys.readouterr().err


def test_tokens_are_never_flags() -> None:
    parser = argparse.ArgumentParser()
    auth_cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["auth", "import", "--tenant", "demo", "--access-token", "x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["auth", "password", "--tenant", "demo", "--password", "x"])
