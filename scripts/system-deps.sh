#!/usr/bin/env bash
# Install the system packages Slipguard's tests and tools use, when they are missing:
# Chromium (page tests) with a Chinese font, PostgreSQL, Redis and RabbitMQ servers
# (started privately by the tests when no URL is given) and wrk (HTTP benchmarks). Needs
# root and apt-get; otherwise it only reports what is missing, and the tests that need it
# are skipped with the reason.
set -euo pipefail

want=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || want+=(chromium)
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || want+=(rabbitmq-server)
command -v wrk >/dev/null 2>&1 || want+=(wrk)
# A font with Chinese glyphs, so the customer page's zh-CN screenshots show text, not boxes.
fc-list :lang=zh 2>/dev/null | grep -q . || want+=(fonts-wqy-microhei)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  want+=(postgresql)
fi

if [ ${#want[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing system packages: ${want[*]} (install them to run every test)" >&2
  exit 0
fi
echo "installing system packages: ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Service packages must not try to start daemons here; tests start their own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
