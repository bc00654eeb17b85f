#!/usr/bin/env bash
# Sets up everything and runs every test session through nox (lint, the core alone, each plugin,
# everything together). Extra arguments go to nox, e.g. `bash scripts/test.sh -s tests`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh
python3 -m venv .nox-venv
.nox-venv/bin/python -m pip install -q --disable-pip-version-check "nox>=2024.4"
exec .nox-venv/bin/nox "$@"
