#!/usr/bin/env bash
# The test command: installs what the suite needs on a fresh machine, then lints, type-checks
# and runs pytest (the default tier, a test file per process on two processes).
# Usage: bash tests/run.sh [pytest args...]   (e.g. -m slow; -n 0 runs one test at a time)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: command -> package
for need in redis-server:redis-server redis-sentinel:redis-sentinel promtool:prometheus \
  chromium:chromium; do
  command="${need%%:*}" package="${need##*:}"
  if ! command -v "$command" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing $package (the tests start $command themselves)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    else
      echo "$command is required: install it (e.g. sudo apt-get install $package)" >&2
      exit 1
    fi
  fi
done

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # strict on proxy/, mappings/, tests/ and bench/ ([tool.mypy] in pyproject.toml)
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
