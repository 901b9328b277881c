#!/usr/bin/env bash
# Start a local PostgreSQL for the storage contract tests (run as root; idempotent).
#
# Installs Debian's postgresql package when no server is installed, starts the newest installed
# cluster, creates the role `omnicore` (password `omnicore`) and the database `omnicore_test`, waits
# until it accepts connections over 127.0.0.1 and prints the URL on stdout (everything else goes to
# stderr), so callers can do:
#
#   export OMNICORE_TEST_POSTGRES_URL="$(bash .ci/start-postgres.sh)"
set -euo pipefail

log() { echo "start-postgres: $*" >&2; }

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    log "installing postgresql from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
fi

version="$(ls -1 /usr/lib/postgresql | sort -V | tail -n 1)"
cluster=main
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {found=1} END {exit !found}'; then
    log "creating cluster $version/$cluster"
    pg_createcluster "$version" "$cluster" >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $3}')"
if [[ "$port" != 5432 ]]; then
    log "cluster $version/$cluster listens on port $port, not 5432"
    exit 1
fi

status="$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $4}')"
if [[ "$status" != online* ]]; then
    log "starting cluster $version/$cluster"
    pg_ctlcluster "$version" "$cluster" start >&2
fi

for _ in $(seq 1 60); do
    if su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432"; then
        break
    fi
    sleep 0.5
done
su postgres -c "pg_isready -h 127.0.0.1 -p 5432" >&2

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAX -p 5432 $*"; }

if [[ "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname = 'omnicore'\"")" != 1 ]]; then
    log "creating role omnicore"
    psql_admin "-c \"CREATE ROLE omnicore LOGIN PASSWORD 'omnicore'\"" >&2
fi
if [[ "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname = 'omnicore_test'\"")" != 1 ]]; then
    log "creating database omnicore_test"
    psql_admin "-c \"CREATE DATABASE omnicore_test OWNER omnicore\"" >&2
fi

echo "postgresql://omnicore:omnicore@127.0.0.1:5432/omnicore_test"
