# shellcheck shell=bash
# Shared by gateway.sh, pages.sh, scale.sh and soak.sh (sourced, not run): logging, the
# processes a script started (stopped by PID, never by name), /proc readings, tool
# installation and the budget verdicts (judge.py).
# A script traps EXIT with `stop_started`, or with its own cleanup that calls it last.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- processes (by PID only)
STARTED=()      # "pid:exe" of everything the script launched
is_ours() {     # pid exe -> still the process we started?
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
stop_pid() {    # pid exe: TERM, 5 s grace, then KILL
  local pid="$1" exe="$2"
  is_ours "$pid" "$exe" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do is_ours "$pid" "$exe" || break; sleep 0.1; done
  is_ours "$pid" "$exe" && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_started() {
  local e
  for e in "${STARTED[@]+"${STARTED[@]}"}"; do stop_pid "${e%%:*}" "${e#*:}"; done
  [ ${#STARTED[@]} -gt 0 ] && log "stopped what we started: ${STARTED[*]%%:*}" || true
  if [ -n "${PG_DB:-}" ]; then pg_drop "$PG_DB"; PG_DB=""; fi
}
forget() {      # pid: no longer ours to stop (it was stopped already)
  local e keep=()
  for e in "${STARTED[@]}"; do [ "${e%%:*}" != "$1" ] && keep+=("$e"); done
  STARTED=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- readings
# rss_kb and cpu_ticks print NOTHING when the reading cannot be taken (never a 0 that would
# pass a budget): callers pass the empty reading on, and the judge counts it NOT TAKEN.
rss_kb() { awk '/^VmRSS:/{print $2; exit}' "/proc/$1/status" 2>/dev/null || true; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}' || true; }  # utime+stime, all threads
cpu_snapshot() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6, $9; exit}' /proc/stat; }   # busy idle steal
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- tools
need_tools() {  # tool...: apt-get installs the missing ones (NO_INSTALL=1: fail instead)
  local t need=()
  for t in "$@"; do command -v "$t" >/dev/null || need+=("$t"); done
  [ ${#need[@]} -eq 0 ] && return 0
  [ "${NO_INSTALL:-0}" = 1 ] && die "missing: ${need[*]} (apt-get install -y ${need[*]})"
  command -v apt-get >/dev/null || die "missing: ${need[*]}, and no apt-get to install them"
  log "installing ${need[*]} with apt-get"
  { apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; } ||
    die "apt-get install ${need[*]} failed"
}

# ---------------------------------------------------------------- PostgreSQL (BACKEND=postgres|both)
# PG_URL: the server, without a database name. Benchmarks get a fresh database each and drop
# it at exit; nothing else on the server is touched.
pg_create() {   # name
  command -v psql >/dev/null || need_tools postgresql-client
  psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" -c "CREATE DATABASE \"$1\"" >/dev/null ||
    die "cannot create database $1 on $PG_URL (set PG_URL=postgres://user@host:port)"
  log "PostgreSQL: database $1 on $PG_URL"
}
pg_drop() {     # name
  psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 ||
    log "could not drop database $1 (drop it by hand)"
}

# ---------------------------------------------------------------- backends (pages.sh, soak.sh)
# BACKEND [both]: sqlite, postgres, or both. `backend_db_url DIR` prints the run's
# KEYHOLD_DATABASE_URL (PostgreSQL: a fresh database, dropped by stop_started; call it in the
# script's shell, not in $(...), so that PG_DB is kept). `run_per_backend SCRIPT` (BACKEND=both)
# runs SCRIPT once per backend, SQLite first and PostgreSQL with SKIP_BUILD=1, and sets
# SQLITE_RUN/PG_RUN (their run folders) and SQLITE_RC/PG_RC (their verdicts).
BACKEND="${BACKEND:-both}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
case "$BACKEND" in sqlite|postgres|both) ;; *) die "BACKEND must be sqlite, postgres or both" ;; esac
DB_URL=""
backend_db_url() {   # run dir -> sets DB_URL
  if [ "$BACKEND" = postgres ]; then
    PG_DB="kh_bench_$(date +%s)_$$"
    pg_create "$PG_DB"
    DB_URL="$PG_URL/$PG_DB"
  else
    DB_URL="sqlite://$1/keyhold.db"
  fi
}
record_run() {  # run dir: tells run_per_backend where this run's files are
  [ -z "${BENCH_RUN_FILE:-}" ] || echo "$1" >"$BENCH_RUN_FILE"
}
run_per_backend() {  # script
  local f; f=$(mktemp)
  log "BACKEND=both: $(basename "$1") on SQLite, then on PostgreSQL"
  BACKEND=sqlite BENCH_RUN_FILE="$f" bash "$1" && SQLITE_RC=0 || SQLITE_RC=$?
  SQLITE_RUN=$(cat "$f"); : >"$f"
  BACKEND=postgres SKIP_BUILD=1 BENCH_RUN_FILE="$f" bash "$1" && PG_RC=0 || PG_RC=$?
  PG_RUN=$(cat "$f"); rm -f "$f"
  log "SQLite run: $SQLITE_RUN (rc $SQLITE_RC); PostgreSQL run: $PG_RUN (rc $PG_RC)"
}

# ---------------------------------------------------------------- budgets (judge.py)
# Every budget a script checks goes through one file and one judge, so none can be skipped,
# printed as NOT MET and still exit 0, or pass on a figure that was never taken.
BUDGETS=""      # the run's budgets file: set by the script before the first `budget`
budget() {      # name value op limit [unit] [detail]: one line; an empty value = NOT TAKEN
  [ -n "$BUDGETS" ] || die "budget called before BUDGETS was set"
  local f out=() x
  for x in "$@"; do f="${x//$'\t'/ }"; out+=("${f//$'\n'/ }"); done
  while [ ${#out[@]} -lt 6 ]; do out+=(""); done
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${out[@]:0:6}" >>"$BUDGETS"
}
not_taken() {   # name why: a figure that was not taken
  budget "$1" "" "" "" "" "$2"
}
judge() {       # [summary file]: print the verdicts (appended to the summary file too);
  local rc=0    # returns 1 when any budget is NOT MET or NOT TAKEN, or none was recorded
  python3 "$BENCH_DIR/judge.py" "$BUDGETS" | tee -a "${1:-/dev/null}" || rc=$?
  return "$rc"
}
