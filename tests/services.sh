#!/usr/bin/env bash
# Make sure the test PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer.
# Starts the machine's own servers when they are installed but stopped; never fakes them.
# If one still does not answer, the suite reports it (a failure when CI=true).
set -u
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
fi
for _ in $(seq 1 20); do
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "tests/services.sh: PostgreSQL or Redis on 127.0.0.1 does not answer" >&2
exit 0
