#!/usr/bin/env bash
# Sets up everything and runs every test session through nox (lint, the core alone, each plugin,
# the plugins together, packaging, docs, the benchmark's smoke test). Extra arguments go to
# nox, e.g. `bash scripts/test.sh -s tests`; `-l` lists the sessions.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> system packages (installed only if missing)"
bash scripts/system-packages.sh
[ -x .nox-venv/bin/python ] || python3 -m venv .nox-venv
echo "==> nox into .nox-venv (pip)"
.nox-venv/bin/python -m pip install --disable-pip-version-check "nox>=2024.4"
echo "==> nox $*"
exec .nox-venv/bin/nox "$@"
