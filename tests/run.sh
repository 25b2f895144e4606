#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs them.
# Needs root: the lab builds network namespaces with real sshd hosts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh must run as root (the lab creates network namespaces)" >&2
  exit 1
fi

# Debian packages: the lab's hosts (sshd, sudo, PAM, and the daemons the hardened host runs:
# chrony, rsyslog, nftables), the network lab's real services (telnetd, vsftpd, redis,
# snmpd, nginx), the scanner's tools (nmap) and the browser the HTML report is tested in. Services are not started on install
# (policy-rc.d): the tests start their own, inside namespaces.
APT_PACKAGES=(
  openssh-server openssh-client sudo iproute2 util-linux procps openssl python3-venv
  libpam-pwquality libpam-modules chrony rsyslog nftables nmap
  inetutils-telnetd inetutils-inetd vsftpd redis-server snmpd nginx-light chromium postgresql
)
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s "${APT_PACKAGES[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check .
set +e
HYGIE_REQUIRE_LAB=1 HYGIE_REQUIRE_BROWSER=1 .venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
