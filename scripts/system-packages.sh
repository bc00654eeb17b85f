#!/usr/bin/env bash
# Installs, when missing, the Debian packages brinery's demo, tests and plugins need:
# - a compiler and Python's headers: python-lzo (brinery-lzo's codec) has no wheel for Linux, so
#   pip builds it (build-essential, python3-dev, and liblzo2-dev for the LZO library itself);
# - python3-venv: Debian's python3 makes virtual environments only with it;
# - the compression command-line tools the interoperability tests run.
# Nothing is installed when everything is there (no root needed then).
set -euo pipefail

missing=()
for tool in gzip:gzip bzip2:bzip2 xz:xz-utils lz4:lz4 lzop:lzop zstd:zstd gcc:build-essential \
  make:build-essential; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
dpkg -s liblzo2-dev >/dev/null 2>&1 || missing+=(liblzo2-dev)
python3 - <<'PYTHON' || missing+=(python3-dev)
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
PYTHON
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
missing=($(printf '%s\n' "${missing[@]}" | sort -u))
echo "==> installing the system packages that are missing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "run as root, or install them first: apt-get install ${missing[*]}" >&2
    exit 1
  }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
