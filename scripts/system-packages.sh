#!/usr/bin/env bash
# Installs, when missing, the Debian packages brinery's tests and plugins need:
# the compression command-line tools used by the interop tests, and liblzo2-dev for python-lzo.
set -euo pipefail

missing=()
for tool in gzip:gzip bzip2:bzip2 xz:xz-utils lz4:lz4 lzop:lzop zstd:zstd; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
dpkg -s liblzo2-dev >/dev/null 2>&1 || missing+=(liblzo2-dev)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
