#!/usr/bin/env bash
# The whole test suite as CI runs it: install, lint, format check, type check, tests.
# Uses the active virtualenv, or creates ./.venv. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[dev]'
ruff check app tests tools bench
ruff format --check app tests tools bench
mypy app
python -m pytest "$@"
