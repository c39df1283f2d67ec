# Shared by gateway.sh, pages.sh and soak.sh (sourced, not run): logging, the processes a
# script started (stopped by PID, never by name), /proc readings and tool installation.
# A script traps EXIT with `stop_started`, or with its own cleanup that calls it last.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- processes (by PID only)
STARTED=()      # "pid:exe" of everything the script launched
is_ours() {     # pid exe -> still the process we started?
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
stop_pid() {    # pid exe: TERM, 5 s grace, then KILL
  local pid="$1" exe="$2" i
  is_ours "$pid" "$exe" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do is_ours "$pid" "$exe" || break; sleep 0.1; done
  is_ours "$pid" "$exe" && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_started() {
  local e
  for e in "${STARTED[@]+"${STARTED[@]}"}"; do stop_pid "${e%%:*}" "${e#*:}"; done
  [ ${#STARTED[@]} -gt 0 ] && log "stopped what we started: ${STARTED[*]%%:*}" || true
}
forget() {      # pid: no longer ours to stop (it was stopped already)
  local e keep=()
  for e in "${STARTED[@]}"; do [ "${e%%:*}" != "$1" ] && keep+=("$e"); done
  STARTED=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- readings
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'; }  # utime+stime, all threads
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
