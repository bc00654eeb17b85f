#!/usr/bin/env bash
# Sets up a virtual environment with brinery and its plugins, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh
python3 -m venv .venv
plugins=()
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && plugins+=("./$plugin")
done
.venv/bin/python -m pip install -q --disable-pip-version-check ./core "${plugins[@]}"
exec .venv/bin/python examples/demo.py "$@"
