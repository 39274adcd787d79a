"""Configuration validation: each problem is reported with its file line and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxy.config import Config, ConfigError, parse
from tests import support

TENANT = """
[[tenants]]
name = "{name}"
api_key = "k"
client_id = "c"
client_secret = "s"
user_ids = ["{name}-user"]
plan = "watt"
grant = "authorization_code"
"""
BASE = (
    """
[server]
port = 8080

[cache]
backend = "memory"
"""
    + TENANT.format(name="first")
    + TENANT.format(name="second")
)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    """The problems ``parse`` reports for ``text`` (none: the test fails)."""
    with pytest.raises(ConfigError) as caught:
        parse(text, "test.toml", env or {})
    return caught.value.problems


def line(text: str, content: str, after: int = 0) -> int:
    """The number of the first line holding ``content`` after line ``after``."""
    lines = text.splitlines()
    return next(n for n, text in enumerate(lines, 1) if n > after and content in text)


def second_tenant(text: str) -> int:
    """The line of the second ``[[tenants]]`` header."""
    return line(text, "[[tenants]]", line(text, "[[tenants]]"))


def test_base_is_valid() -> None:
    config = parse(BASE, "test.toml", {})
    assert list(config.tenants) == ["first", "second"]
    assert config.tenants["second"].limits.per_minute == 10


@pytest.mark.parametrize(
    ("plan", "per_month"),
    [("watt", 1_000), ("kilowatt", 50_000), ("megawatt", 300_000)],
)
def test_plans_allow_the_month_enphase_publishes(plan: str, per_month: int) -> None:
    config = parse(BASE.replace('plan = "watt"', f'plan = "{plan}"'), "test.toml", {})
    assert config.tenants["first"].limits.per_month == per_month


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('backend = "memory"', "max_entries = 0", "cache.max_entries"),
        ('backend = "memory"', "max_bytes = -1", "cache.max_bytes"),
        ("port = 8080", "workers = -2", "server.workers"),
        ("port = 8080", "timeout = -1", "server.timeout"),
        ("port = 8080", "port = 0", "server.port"),
        ('backend = "memory"', 'ttl = { summary = "abc" }', "cache.ttl.summary"),
        ('backend = "memory"', "ttl = { nonsense = 5 }", "cache.ttl.nonsense"),
        ('backend = "memory"', "ttl = { summary = -5 }", "cache.ttl.summary"),
        ('backend = "memory"', 'backend = "disk"', "cache.backend"),
        ("port = 8080", "prot = 8080", "server.prot"),
    ],
)
def test_out_of_range_or_unknown_values(old: str, new: str, where: str) -> None:
    text = BASE.replace(old, new)
    assert problems(text) == [f"test.toml: line {line(text, new)}: {where}: " + _rest(text)]


def _rest(text: str) -> str:
    """The message part of the only problem of ``text``."""
    [problem] = problems(text)
    return problem.split(": ", 3)[3]


def test_the_ttl_example_of_the_issue_reports_both_entries() -> None:
    text = BASE.replace('backend = "memory"', 'ttl = {summary = "abc", nonsense = 5}')
    found = problems(text)
    at = line(text, "ttl =")
    assert f"test.toml: line {at}: cache.ttl.summary: Input should be a valid integer" in found[0]
    assert f"test.toml: line {at}: cache.ttl.nonsense: not a v4 endpoint name" in found[1]


def test_negative_upstream_timeout() -> None:
    text = BASE + "\n[upstream]\ntimeout = -1.5\n"
    assert problems(text)[0].startswith(
        f"test.toml: line {line(text, 'timeout')}: upstream.timeout"
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ('plan = "watt"', 'plan = "gold"', "plan", "unknown plan 'gold'"),
        ('grant = "authorization_code"', 'grant = "implicit"', "grant", "must be one of"),
        ("", 'colour = "red"', "colour", "unknown setting"),
        ("", "per_minute = 0", "per_minute", "greater than 0"),
        ('["second-user"]', '["first-user"]', "user_ids", "'first-user' is in first and second"),
        ('name = "second"', 'name = "first"', "name", "duplicate tenant 'first'"),
    ],
)
def test_a_problem_in_the_second_tenant_is_reported_at_its_line(
    old: str, new: str, key: str, message: str
) -> None:
    before, _, after = BASE.rpartition(old) if old else (BASE, "", "")
    text = before + new + after if old else BASE + new + "\n"
    [problem] = problems(text)
    expected = line(text, f"{key} =", second_tenant(text))
    assert problem.startswith(f"test.toml: line {expected}: tenants[1].{key}: "), problem
    assert message in problem


def test_a_missing_key_in_the_second_tenant_is_reported_at_its_header() -> None:
    text = BASE.replace(
        'client_id = "c"\nclient_secret = "s"\nuser_ids = ["second',
        'client_secret = "s"\nuser_ids = ["second',
    )
    [problem] = problems(text)
    assert problem == f"test.toml: line {second_tenant(text)}: tenants[1].client_id: missing"


def test_secrets_from_the_environment() -> None:
    text = BASE.replace(
        'client_secret = "s"\nuser_ids = ["second',
        'client_secret_env = "SECOND_SECRET"\nuser_ids = ["second',
    )
    [problem] = problems(text)
    at = line(text, "client_secret_env")
    assert problem == (
        f"test.toml: line {at}: tenants[1].client_secret_env: "
        "environment variable SECOND_SECRET is not set"
    )
    config = parse(text, "test.toml", {"SECOND_SECRET": "from-env"})
    assert config.tenants["second"].client_secret == "from-env"
    assert "from-env" not in "".join(
        problems(text.replace("port = 8080", "port = -1"), {"SECOND_SECRET": "from-env"})
    )
    # only secrets may come from the environment
    odd = BASE.replace('client_id = "c"', 'client_id_env = "X"', 1)
    assert any("tenants[0].client_id_env: unknown setting" in p for p in problems(odd))


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    text = BASE.replace('client_secret = "s"', "client_secret = 123456789", 1)
    [problem] = problems(text)
    assert "tenants[0].client_secret" in problem and "123456789" not in problem


def test_client_keys_and_demo_keys() -> None:
    clients = (
        '\n[[legacy_clients]]\nname = "dash"\nkey = "dash-key"\ntenants = ["first", "third"]\n'
    )
    text = BASE + clients
    [problem] = problems(text)
    assert problem.startswith(
        f"test.toml: line {line(text, 'tenants = [')}: legacy_clients[0].tenants"
    )
    real = (
        BASE
        + clients.replace(', "third"', "").replace("dash-key", "demo-v2-key")
        + '\n[upstream]\napi_root = "https://api.enphaseenergy.com/api/v4"\n'
    )
    [problem] = problems(real)
    assert (
        f"line {line(real, 'api_root')}: upstream.api_root: demo client keys are refused" in problem
    )
    bad_digest = BASE + '\n[[team_clients]]\nname = "t"\nkey_sha256 = "abc"\n'
    [problem] = problems(bad_digest)
    assert (
        f"line {line(bad_digest, 'key_sha256')}: team_clients[0].key_sha256: must be 64 hex"
        in problem
    )
    config = parse(BASE + clients.replace(', "third"', ""), "test.toml", {})
    assert config.legacy_clients[0].key_matches("dash-key")


def test_the_file_cache_is_the_default_and_an_unknown_backend_names_the_choices() -> None:
    assert (
        parse(BASE.replace('backend = "memory"', 'backend = "file"'), "t.toml", {}).cache.backend
        == "file"
    )
    assert parse(BASE.replace('backend = "memory"', ""), "t.toml", {}).cache.backend == "file"
    text = BASE.replace('backend = "memory"', 'backend = "shared"')
    assert problems(text) == [
        f"test.toml: line {line(text, 'shared')}: cache.backend: "
        "must be one of 'file', 'memory', 'redis' (got 'shared')"
    ]


def test_redis_backends_need_a_url() -> None:
    text = BASE.replace('backend = "memory"', 'backend = "redis"')
    [problem] = problems(text)
    assert problem.startswith(f"test.toml: line {line(text, 'redis')}: cache.backend: ")


def test_settings_made_in_code_are_validated_too() -> None:
    from proxy.config import Cache

    with pytest.raises(ValueError):
        Cache(max_entries=0)
    assert Config().cache.max_entries > 0


def test_check_config_reports_each_problem_of_the_issue_with_its_line(tmp_path: Path) -> None:
    text = BASE.replace("port = 8080", "workers = -1\ntimeout = -5").replace(
        'backend = "memory"', 'max_entries = 0\nttl = {summary = "abc", nonsense = 5}'
    )
    before, _, after = text.rpartition('plan = "watt"')
    text = before + 'plan = "gold"' + after
    path = tmp_path / "bad.toml"
    path.write_text(text)
    command = [sys.executable, "-m", "proxy.cli", "check-config", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for content, where in [
        ("workers", "server.workers"),
        ("timeout", "server.timeout"),
        ("max_entries", "cache.max_entries"),
        ("ttl", "cache.ttl.summary"),
        ("ttl", "cache.ttl.nonsense"),
    ]:
        assert f"line {line(text, content)}: {where}: " in result.stderr
    assert f"line {line(text, 'plan', second_tenant(text))}: tenants[1].plan: " in result.stderr


def test_the_demo_configuration_writes_any_value_toml_can_hold(tmp_path: Path) -> None:
    """The sandbox's demo configuration is written by a TOML library, not by hand."""
    data_dir = tmp_path / 'a "quoted"\tdir'
    password = 'pa"ss\\word\nwith a newline and \x01'
    config = support.proxy_config("http://sandbox", data_dir, password=password)
    tenant = config.tenants["demo"]
    assert tenant.password == password
    assert config.server.data_dir == str(data_dir)
