#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for the tests marked `postgres`
# (tests/test_scaleout_postgres.py runs `mlflow server` against it).
#
#   source .ci/postgres.sh start   # install if needed, start, export EMS_SWEEP_PG_URI
#   bash .ci/postgres.sh stop      # stop it and delete its data
#
# It never touches the system's own cluster: its data, socket and log live in $EMS_SWEEP_PG_DIR
# (default /tmp/ems-sweep-pg), it listens on 127.0.0.1 only, on a free port, and runs as the
# `postgres` user when started by root (PostgreSQL refuses to run as root).
# Safe to `source` from a script with `set -euo pipefail`: it returns non-zero instead of exiting.

_pg_dir="${EMS_SWEEP_PG_DIR:-/tmp/ems-sweep-pg}"

_pg_log() { echo "postgres.sh: $*" >&2; }

_pg_bindir() {
    # The newest installed server's binaries (Debian: /usr/lib/postgresql/<major>/bin).
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
        return 0
    fi
    if command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

_pg_install() {
    if _pg_bindir >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        _pg_log "PostgreSQL is not installed and apt-get cannot run here (needs root)"
        return 1
    fi
    _pg_log "installing postgresql with apt-get"
    apt-get update -qq >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    _pg_bindir >/dev/null
}

# Run a command as the server's owner: `postgres` when we are root, else ourselves.
_pg_as_owner() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_pg_start() {
    local bindir port password
    _pg_install || return 1
    bindir="$(_pg_bindir)" || return 1
    _pg_stop_quiet
    mkdir -p "$_pg_dir" || return 1
    chmod 700 "$_pg_dir"
    if [ "$(id -u)" = "0" ]; then
        id postgres >/dev/null 2>&1 || { _pg_log "no 'postgres' user to run the server"; return 1; }
        chown postgres: "$_pg_dir" || return 1
    fi
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    port="$(_pg_free_port)" || return 1
    echo "$password" >"$_pg_dir/pwfile"
    [ "$(id -u)" = "0" ] && chown postgres: "$_pg_dir/pwfile"
    # Superuser `ems` (it creates one database per test), password login over TCP only.
    _pg_as_owner "$bindir/initdb" -D "$_pg_dir/data" -U ems --pwfile="$_pg_dir/pwfile" \
        --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >"$_pg_dir/initdb.log" 2>&1 \
        || { _pg_log "initdb failed: $(tail -n 5 "$_pg_dir/initdb.log")"; return 1; }
    rm -f "$_pg_dir/pwfile"
    _pg_as_owner "$bindir/pg_ctl" -D "$_pg_dir/data" -l "$_pg_dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $_pg_dir -c fsync=off" start >/dev/null \
        || { _pg_log "server did not start: $(tail -n 5 "$_pg_dir/server.log")"; return 1; }
    echo "$bindir" >"$_pg_dir/bindir"
    export EMS_SWEEP_PG_DIR="$_pg_dir"
    export EMS_SWEEP_PG_URI="postgresql://ems:${password}@127.0.0.1:${port}/postgres"
    echo "$EMS_SWEEP_PG_URI" >"$_pg_dir/uri"
    _pg_log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (EMS_SWEEP_PG_URI exported)"
}

_pg_stop_quiet() {
    local bindir
    if [ -f "$_pg_dir/data/postmaster.pid" ]; then
        bindir="$(cat "$_pg_dir/bindir" 2>/dev/null || _pg_bindir)"
        _pg_as_owner "$bindir/pg_ctl" -D "$_pg_dir/data" -m fast -w -t 60 stop >/dev/null 2>&1
    fi
    rm -rf "$_pg_dir"
}

_pg_stop() {
    if [ -f "$_pg_dir/data/postmaster.pid" ]; then
        _pg_log "stopping PostgreSQL in $_pg_dir"
    fi
    _pg_stop_quiet
    unset EMS_SWEEP_PG_URI
}

_pg_main() {
    case "${1:-}" in
        start) _pg_start ;;
        stop) _pg_stop ;;
        *)
            _pg_log "usage: source .ci/postgres.sh start | bash .ci/postgres.sh stop"
            return 2
            ;;
    esac
}

if (return 0 2>/dev/null); then
    _pg_main "${1:-}"
else
    _pg_main "${1:-}"
    exit $?
fi
