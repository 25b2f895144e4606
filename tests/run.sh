#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs them.
# Needs root: the lab builds network namespaces with real sshd hosts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh must run as root (the lab creates network namespaces)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s openssh-server sudo nmap iproute2 libpam-pwquality procps >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client sudo nmap iproute2 util-linux procps \
    libpam-pwquality libpam-modules openssl python3-venv >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check .
set +e
HYGIE_REQUIRE_LAB=1 .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
