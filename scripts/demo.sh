#!/usr/bin/env bash
# Sets up a virtual environment (.venv) with brinery and its plugins, then runs the demo
# (examples/demo.py: a few seconds; extra arguments go to it, e.g. --all for the slow codecs).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> system packages (installed only if missing)"
bash scripts/system-packages.sh
if [ ! -x .venv/bin/python ]; then
  echo "==> creating the virtual environment .venv"
  python3 -m venv .venv
fi
plugins=()
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && plugins+=("./$plugin")
done
echo "==> installing brinery and its plugins into .venv (pip; building python-lzo takes a while)"
.venv/bin/python -m pip install --disable-pip-version-check ./core "${plugins[@]}"
echo "==> the demo: python examples/demo.py $*"
exec .venv/bin/python examples/demo.py "$@"
