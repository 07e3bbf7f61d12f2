#!/usr/bin/env bash
# A private PostgreSQL 15 cluster with pg_partman for the tenancy benchmark (Debian's postgresql-15 and
# postgresql-15-partman, pg_partman 4.7), apt-installed when missing (as root only), run as a non-root
# user (the package's `postgres` user when called as root) on 127.0.0.1:<port>, trust authentication
# on loopback only, data in <dir>. Usage: pg15-cluster.sh start <dir> <port> | stop <dir>
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
cmd=${1:?start|stop}
dir=${2:?data directory}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    port=${3:?port}
    if [ ! -x "$BIN/pg_ctl" ] || [ ! -f /usr/share/postgresql/15/extension/pg_partman.control ]; then
      if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL 15 with pg_partman is missing: run as root once, or apt-get install postgresql-15 postgresql-15-partman" >&2
        exit 2
      fi
      echo "installing postgresql-15 and postgresql-15-partman" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update >&2
      apt-get install -y --no-install-recommends postgresql-15 postgresql-15-partman >&2
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1
    fi
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_locks_per_transaction=1024 -c shared_preload_libraries=pg_stat_statements" start >&2
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true; fi
    ;;
  *)
    echo "usage: $0 start <dir> <port> | stop <dir>" >&2
    exit 2
    ;;
esac
