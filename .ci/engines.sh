# Throwaway engines for the tests that need them, sourced by .ci/run (and usable by hand:
# `source .ci/engines.sh && start_postgres && echo "$CONVERRA_TEST_DATABASE_URL"`).
# Each starts on a free port in a temporary directory and is stopped by `stop_engines`
# (registered on EXIT by .ci/run). Nothing is written outside the temporary directory.

engines_dir=""

# A free TCP port on 127.0.0.1 (asked of the kernel, then released).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Installs Debian packages that are missing, with one `apt-get update` per run.
apt_updated=""
need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing ${missing[*]} (Debian packages)"
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# PostgreSQL refuses to run as root: initdb and pg_ctl run as the `postgres` user.
start_postgres() {
  need_packages postgresql
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  engines_dir=${engines_dir:-$(mktemp -d)}
  chmod 755 "$engines_dir" # the postgres user must reach its folder inside
  local dir=$engines_dir/postgres port
  port=$(free_port)
  mkdir -p "$dir"
  chown postgres "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres converra
  export CONVERRA_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/converra"
  PG_BIN=$bin
  PG_DIR=$dir
  echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

start_redis() {
  need_packages redis-server
  engines_dir=${engines_dir:-$(mktemp -d)}
  local port
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$engines_dir" >"$engines_dir/redis.log" 2>&1 &
  REDIS_PID=$!
  export CONVERRA_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "== Redis on 127.0.0.1:$port"
}

stop_engines() {
  if [ -n "${PG_DIR:-}" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "${REDIS_PID:-}" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
  fi
  if [ -n "$engines_dir" ]; then
    rm -rf "$engines_dir"
  fi
}
