#!/usr/bin/env bash
# Issue 5 / SPEC §12: a 60-second mixed soak at 64 connections — signed-in pages, API calls
# and sign-ins at once — with zero errors, RSS within budget (<= 30 MiB idle, <= 80 MiB at
# 64 connections), and sign-ins not slowing the other pages.
#
# What it does
#   1. builds Keyhold (`cargo build --release --bin keyhold`: fat LTO, one codegen unit),
#      then the load client (`--example soak`) in a second cargo run: built together, the
#      example's dev-dependencies would switch on features in Keyhold's own (reqwest's
#      cookie layer, which parses every upstream URL again) and the measured binary would
#      not be the one `cargo build --release` ships;
#   2. starts the loopback nginx mock of the provider (../shared/bench/mock-upstream.nginx.conf,
#      :18080) unless one already answers there (then it is reused and left running). OpenAI
#      points at its plain `/v1`, DeepSeek at its SSE `/stream/v1` (nginx cannot branch on the
#      body's "stream" flag, so streamed calls name a DeepSeek model);
#   3. seeds a fresh SQLite Keyhold (`keyhold seed-demo`: an admin, SEED_WORKSPACES workspaces
#      each with an owner sharing the admin's password, keys, audit events, one API token),
#      starts `keyhold serve` (KEYHOLD_WORKERS=2) and waits for /readyz;
#   4. runs `examples/soak.rs` (see its header) for DURATION s with CONNS tasks: SIGNIN_TASKS
#      of them sign in again and again as seeded owners (fresh client: GET /login, POST
#      /login, the keys page; SIGNIN_PAUSE_MS between two), the others loop over a weighted
#      mix of admin and owner pages (/admin/integrations, /admin, /admin/audit,
#      /w/<slug>/settings/keys, /w/<slug>/usage, /w/<slug>/audit: 34 %) and API calls
#      (/v1/chat/completions and /v1/messages, plain and "stream": true, with tokens of
#      several workspaces: 66 %). Setup (not measured) turns DeepSeek on as the admin,
#      creates API tokens through the owners' form and signs every task's sessions in;
#   5. prints per kind: count, req/s, errors, p50/p99/max; Keyhold's RSS idle (2 s after
#      ready, before any request) and peak (VmRSS every 0.25 s), CPU per request; the
#      client's verdict line; then bench/judge.py's budget table, from the client's figures.
#
# Budgets checked: zero failed requests (non-2xx where a 2xx/303 was expected, incomplete
#   bodies or streams, timeouts, connection errors) out of a soak that made requests at all;
#   RSS idle <= 30 MiB and peak <= 80 MiB, each from a reading that was taken (the client
#   prints 0 MiB for an RSS it could not read, or a peak of no sample: NOT TAKEN here);
#   Keyhold still running at the end; the client finishing (exit 0 or 1, not a crash or a
#   timeout). Sign-ins not slowing pages is read by comparing a SIGNIN_TASKS=0 run: no budget.
#
# Exit status: 0 only when every budget was measured and met; 1 when any is NOT MET or NOT
#   TAKEN, each named on the RESULT lines at the end.
#
# Usage
#   (BACKEND [both]: sqlite or postgres run on that backend — PostgreSQL on a fresh database
#   of PG_URL [postgres://postgres@127.0.0.1:5432], dropped at exit; both runs SQLite, then
#   PostgreSQL, and prints both summaries, passing only when both runs pass.)
#   bench/soak.sh                                   # 60 s at 64 connections
#   DURATION=10 SKIP_BUILD=1 bench/soak.sh          # quick look
#
# Knobs (env, defaults in brackets)
#   DURATION [60] s; CONNS [64]; SIGNIN_TASKS [4]; SIGNIN_PAUSE_MS [500]; TIMEOUT [10] s per
#   request; WORKERS [2]; SEED_WORKSPACES [20] SEED_KEYS [40] SEED_AUDIT [5000]; TOKENS [8]
#   (workspaces whose tokens the API calls use); KH_PORT [18094]; STARTUP_TIMEOUT [20] s;
#   SKIP_BUILD [0]; KH_BIN, SOAK_BIN [target/release/...: a copy, when a shared target dir may be
#   rebuilt by someone else meanwhile]; KH_LOG [file] ("null" for /dev/null); NO_INSTALL [0];
#   PERF_DIR [${TMPDIR:-/tmp}/keyhold-bench]; SHARED [../shared/bench beside the repo].
#
# Bounds and cleanup: the client stops after DURATION s (each request times out after TIMEOUT
#   s; the whole client is killed by `timeout` DURATION + 120 s later); readiness polls give
#   up after STARTUP_TIMEOUT s. Everything started here (nginx, keyhold) is stopped on exit by
#   the PID recorded at launch (checked against /proc/<pid>/cmdline), never by name.
#   Everything listens on 127.0.0.1 only.
#
# Output: the table on stdout; logs, the seed output, budgets.tsv and the summary in
#   $PERF_DIR/soak-<ts>/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}"
DURATION="${DURATION:-60}"
CONNS="${CONNS:-64}"
SIGNIN_TASKS="${SIGNIN_TASKS:-4}"
SIGNIN_PAUSE_MS="${SIGNIN_PAUSE_MS:-500}"
TIMEOUT="${TIMEOUT:-10}"
WORKERS="${WORKERS:-2}"
SEED_WORKSPACES="${SEED_WORKSPACES:-20}"
SEED_KEYS="${SEED_KEYS:-40}"
SEED_AUDIT="${SEED_AUDIT:-5000}"
TOKENS="${TOKENS:-8}"
KH_PORT="${KH_PORT:-18094}"
MOCK_PORT=18080
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-20}"
SKIP_BUILD="${SKIP_BUILD:-0}"
KH_LOG="${KH_LOG:-file}"
NO_INSTALL="${NO_INSTALL:-0}"
PERF_DIR="${PERF_DIR:-${TMPDIR:-/tmp}/keyhold-bench}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
RUN="$PERF_DIR/soak-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"

. "$REPO/bench/lib.sh"
if [ "$BACKEND" = both ]; then
  rmdir "$RUN" 2>/dev/null || true
  run_per_backend "$REPO/bench/soak.sh"
  BOTH="$PERF_DIR/soak-both-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$BOTH"
  BUDGETS="$BOTH/budgets.tsv"; : >"$BUDGETS"
  for b in SQLite PostgreSQL; do
    dir=$SQLITE_RUN rc=$SQLITE_RC; [ "$b" = PostgreSQL ] && dir=$PG_RUN rc=$PG_RC
    { echo; echo "== $b ($dir)"; grep -v '^RESULT' "$dir/summary.txt" 2>/dev/null || echo "(no summary)"; } | tee -a "$BOTH/summary.txt"
    budget "$b run: every soak budget met" "$rc" "==" 0 "" "$dir"
  done
  judge "$BOTH/summary.txt" || { log "FAILED (above; $BUDGETS)"; exit 1; }
  exit 0
fi
record_run "$RUN"
BUDGETS="$RUN/budgets.tsv"; : >"$BUDGETS"
trap stop_started EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_tools nginx curl
[ -f "$SHARED/mock-upstream.nginx.conf" ] || die "shared bench files not found under $SHARED (set SHARED=)"

# ---------------------------------------------------------------- build
if [ "$SKIP_BUILD" != 1 ]; then
  log "building Keyhold and the soak client (release: fat LTO, codegen-units=1) ..."
  (cd "$REPO" && cargo build --release --bin keyhold && cargo build --release --example soak) >&2
fi
KH_BIN="${KH_BIN:-$TARGET_DIR/release/keyhold}"
SOAK_BIN="${SOAK_BIN:-$TARGET_DIR/release/examples/soak}"
[ -x "$KH_BIN" ] || die "$KH_BIN missing (run without SKIP_BUILD=1)"
[ -x "$SOAK_BIN" ] || die "$SOAK_BIN missing (run without SKIP_BUILD=1)"
port_busy "$KH_PORT" && die "port $KH_PORT is already in use"

# ---------------------------------------------------------------- mock upstream
MOCK="http://127.0.0.1:$MOCK_PORT"
if [ "$(curl -s --max-time 2 "$MOCK/health" || true)" = ok ]; then
  log "mock upstream already answering on :$MOCK_PORT (reused, left running)"
else
  port_busy "$MOCK_PORT" && die "port $MOCK_PORT busy but not the mock"
  mkdir -p "$RUN/nginx/logs" "$RUN/nginx/tmp"
  nginx -p "$RUN/nginx" -e "$RUN/nginx/logs/error.log" -c "$SHARED/mock-upstream.nginx.conf" \
    -g 'daemon off;' >"$RUN/nginx/stdout.log" 2>&1 &
  STARTED+=("$!:nginx")
  for _ in $(seq 1 50); do [ "$(curl -s --max-time 1 "$MOCK/health" || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -s --max-time 2 "$MOCK/health" || true)" = ok ] || die "mock upstream did not start ($RUN/nginx/logs)"
  log "mock upstream: nginx pid ${STARTED[-1]%%:*}"
fi

# ---------------------------------------------------------------- keyhold
backend_db_url "$RUN"
log "backend: $BACKEND"
export KEYHOLD_DATABASE_URL="$DB_URL" KEYHOLD_DATA_DIR="$RUN/data" \
  KEYHOLD_MASTER_KEYS="v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
  KEYHOLD_SESSION_SECRET="soak-bench-session-secret-0123456789abcdef" \
  KEYHOLD_BIND="127.0.0.1:$KH_PORT" KEYHOLD_PUBLIC_URL="http://127.0.0.1:$KH_PORT" \
  KEYHOLD_PROVIDER_OPENAI_BASE_URL="$MOCK/v1" \
  KEYHOLD_PROVIDER_DEEPSEEK_BASE_URL="$MOCK/stream/v1" KEYHOLD_WORKERS="$WORKERS"
unset KEYHOLD_SMTP_URL RUST_LOG
mkdir -p "$RUN/data"
"$KH_BIN" seed-demo --workspaces "$SEED_WORKSPACES" --keys "$SEED_KEYS" --audit "$SEED_AUDIT" >"$RUN/seed.txt"
# "Admin: <email> / <password>" and "API token of /w/demo-<stamp>-00000: kh_…"
ADMIN_EMAIL=$(sed -n 's/^Admin: \([^ ]*\) \/ .*/\1/p' "$RUN/seed.txt")
PASSWORD=$(sed -n 's/^Admin: [^ ]* \/ \(.*\)$/\1/p' "$RUN/seed.txt")
STAMP=$(sed -n 's/^API token of \/w\/demo-\([^-]*\)-00000: .*/\1/p' "$RUN/seed.txt")
TOKEN=$(sed -n 's/^API token of \/w\/[^:]*: \(kh_.*\)$/\1/p' "$RUN/seed.txt")
[ -n "$ADMIN_EMAIL" ] && [ -n "$PASSWORD" ] && [ -n "$STAMP" ] && [ -n "$TOKEN" ] ||
  die "could not read seed-demo's output ($RUN/seed.txt)"

KH_OUT="$RUN/keyhold.log"; [ "$KH_LOG" = null ] && KH_OUT=/dev/null
"$KH_BIN" serve >"$KH_OUT" 2>&1 &
KH_PID=$!; STARTED+=("$KH_PID:$KH_BIN")
for _ in $(seq 1 $((STARTUP_TIMEOUT * 20))); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$KH_PORT/readyz" || true)" = 200 ] && break
  sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$KH_PORT/readyz" || true)" = 200 ] ||
  { tail -20 "$KH_OUT" >&2 || true; die "keyhold: /readyz not 200 within ${STARTUP_TIMEOUT}s"; }
sleep 2
IDLE_KB=$(rss_kb "$KH_PID")
log "keyhold pid $KH_PID ready; idle RSS ${IDLE_KB:+$((IDLE_KB / 1024)) MiB}${IDLE_KB:-unreadable}; ${SEED_WORKSPACES} workspaces, ${SEED_KEYS} keys, ${SEED_AUDIT} audit events"
log "soak: ${CONNS} connections (${SIGNIN_TASKS} signing in) for ${DURATION}s | $(nproc) cpus | load: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- the soak
set +e
timeout $((DURATION + 120)) "$SOAK_BIN" --base "http://127.0.0.1:$KH_PORT" --pid "$KH_PID" \
  --duration "$DURATION" --conns "$CONNS" --signin-tasks "$SIGNIN_TASKS" \
  --signin-pause-ms "$SIGNIN_PAUSE_MS" --timeout "$TIMEOUT" --admin "$ADMIN_EMAIL" \
  --password "$PASSWORD" --stamp "$STAMP" --workspaces "$SEED_WORKSPACES" --token "$TOKEN" \
  --tokens "$TOKENS" --model gpt-4o-mini --stream-model deepseek-chat | tee "$RUN/summary.txt"
RC=${PIPESTATUS[0]}
set -e
ALIVE=1; is_ours "$KH_PID" "$KH_BIN" || { ALIVE=0; log "keyhold exited during the soak (see $KH_OUT)"; }
ERRS=$(grep -c -E ' (ERROR|error)' "$KH_OUT" 2>/dev/null || true)
log "load after the run: $(cut -d' ' -f1-3 /proc/loadavg); keyhold log lines at ERROR: ${ERRS:-0}; summary: $RUN/summary.txt"

# ---------------------------------------------------------------- verdicts
# From the client's own lines (examples/soak.rs):
#   "mixed soak: ... <N> requests, ..."
#   "keyhold RSS: idle <X> MiB (before any request), <Y> MiB after setup, peak <Z> MiB under load (<S> samples ..."
#   "VERDICT: errors <E> (budget 0: ...); ..."
S="$RUN/summary.txt"
REQS=$(sed -n 's/^mixed soak: .*, \([0-9][0-9]*\) requests, .*/\1/p' "$S" | head -1)
RSS_IDLE=$(sed -n 's/^keyhold RSS: idle \([0-9.]*\) MiB .*/\1/p' "$S" | head -1)
RSS_PEAK=$(sed -n 's/^keyhold RSS: .* peak \([0-9.]*\) MiB under load .*/\1/p' "$S" | head -1)
RSS_SAMPLES=$(sed -n 's/^keyhold RSS: .* under load (\([0-9]*\) samples.*/\1/p' "$S" | head -1)
ERRORS=$(sed -n 's/^VERDICT: errors \([0-9][0-9]*\) .*/\1/p' "$S" | head -1)
positive() { awk -v v="$1" 'BEGIN {exit !(v + 0 > 0)}'; }

case "$RC" in
  0|1) budget "soak client finished" "$RC" "<=" 1 "" "exit $RC (1: some request failed)" ;;
  124) not_taken "soak client finished" "killed by timeout after $((DURATION + 120)) s" ;;
  *) not_taken "soak client finished" "exit $RC: the client failed (see above)" ;;
esac
if [ -z "$ERRORS" ]; then
  not_taken "failed requests" "no VERDICT line from the client"
elif ! positive "$REQS"; then
  not_taken "failed requests" "the soak made no request (${REQS:-no count printed})"
else
  budget "failed requests" "$ERRORS" "<=" 0 "" "of $REQS requests over ${DURATION} s at $CONNS connections"
fi
if positive "$RSS_IDLE"; then
  budget "RSS idle keyhold" "$RSS_IDLE" "<=" 30 "MiB" "before any request (this script read ${IDLE_KB:-nothing} KiB 2 s after ready)"
else
  not_taken "RSS idle keyhold" "VmRSS unreadable (the client printed ${RSS_IDLE:+$RSS_IDLE MiB}${RSS_IDLE:-no figure})"
fi
if positive "$RSS_PEAK" && positive "$RSS_SAMPLES"; then
  budget "RSS peak keyhold @$CONNS" "$RSS_PEAK" "<=" 80 "MiB" "$RSS_SAMPLES samples every 0.25 s"
else
  not_taken "RSS peak keyhold @$CONNS" "no VmRSS sample under load (peak ${RSS_PEAK:-?} MiB, ${RSS_SAMPLES:-?} samples)"
fi
budget "keyhold alive at the end of the soak" "$ALIVE" "==" 1 "" "1 = still running (log: $KH_OUT)"
judge "$S" || { log "FAILED: a budget NOT MET or NOT TAKEN (above; $BUDGETS)"; exit 1; }
log "PASSED: every budget measured and met"
