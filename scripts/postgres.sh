#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL server for the cloud service's tests, with
# a role `lungdesk` (password `lungdesk`, may create databases). Each test makes its own
# database and drops it. Idempotent. Tests find it at LUNGDESK_TEST_POSTGRES_URL, default
# postgres://lungdesk:lungdesk@127.0.0.1:5432/postgres.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "setup: installing postgresql" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ "$status" != "online" ]; then
  $sudo pg_ctlcluster "$version" "$cluster" start
fi
as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres bash -c "$1"; fi; }
as_postgres "psql -q -p $port -tc \"SELECT 1 FROM pg_roles WHERE rolname = 'lungdesk'\" | grep -q 1 \
  || psql -q -p $port -c \"CREATE ROLE lungdesk LOGIN CREATEDB PASSWORD 'lungdesk'\""
echo "setup: PostgreSQL $version on port $port (role lungdesk)" >&2
