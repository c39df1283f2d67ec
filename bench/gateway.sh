#!/usr/bin/env bash
# SPEC §12 gateway budgets: Keyhold against the bare reference proxy (`passproxy`, from
# ../shared/bench/limit) and against the mock upstream itself, IN ONE INTERLEAVED RUN.
#
# What it does
#   1. builds Keyhold (`cargo build --release`: fat LTO, one codegen unit) and passproxy
#      (`cargo build --release --locked` of the shared limit crate, into target/limit);
#   2. starts the loopback nginx mock of the provider (../shared/bench/mock-upstream.nginx.conf,
#      :18080) unless one already answers there (then it is reused and left running);
#   3. seeds a fresh SQLite Keyhold (`keyhold seed-demo --token-only`), starts `keyhold serve`
#      (KEYHOLD_WORKERS=2, provider base URL = the mock) STARTUP_REPS times, measuring the time
#      from launch to the first 200 on POST /v1/chat/completions and the idle RSS 2 s later;
#      starts passproxy (WORKERS=2, token tok_bench) the same way, once;
#   4. warms every target, then for REPS rounds x CONCURRENCY runs wrk (POST, the shared
#      wrk-post.lua) against direct, passproxy and keyhold in turn, order rotated each
#      round, so drift and neighbours hit all three alike. Per run: req/s, p50/p99, errors
#      and non-2xx, server CPU per request (utime+stime delta of /proc/<pid>/stat over the
#      run / requests), peak RSS (VmRSS sampled every 0.25 s), host idle% and steal%;
#   5. prints a per-target table (medians over rounds, spread = (max-min)/median) and the
#      budget table with a verdict per budget.
#
# Budgets checked (SPEC §12; STREAM=1 uses the streaming CPU budget)
#   Keyhold/passproxy req/s at 64 conns >= 0.9, zero errors; CPU <= 80 us/request at 64
#   conns (<= 110 streaming); added p50 over direct at 1 conn <= 0.25 ms (median(keyhold)
#   - median(direct), 3 rounds); RSS <= 30 MiB idle, <= 80 MiB loaded; first 200 <= 1 s.
#
# Usage
#   bench/gateway.sh                    # non-streaming, 3 rounds x 1/8/64 conns x 10 s
#   STREAM=1 bench/gateway.sh           # SSE: mock .../stream/v1, "stream": true
#   DURATION=5 REPS=1 CONCURRENCY=64 SKIP_BUILD=1 bench/gateway.sh   # quick look
#   WITH_LITELLM=1 bench/gateway.sh     # afterwards, the shared harness with LiteLLM beside
#                                       # Keyhold (installs litellm into a venv; slow)
#
# Knobs (env, defaults in brackets)
#   DURATION [10] s per run; WARMUP [3] s per target; REPS [3]; CONCURRENCY ["1 8 64"];
#   STREAM [0]; WORKERS [2] (Keyhold and passproxy alike); WRK_THREADS [1];
#   STARTUP_REPS [3]; STARTUP_TIMEOUT [20] s; WRK_TIMEOUT [10] s; SKIP_BUILD [0];
#   SEED_WORKSPACES [3] SEED_KEYS [3] SEED_AUDIT [100]; KH_PORT [18092]; PP_PORT [18090];
#   PERF_DIR [${TMPDIR:-/tmp}/keyhold-bench]; SHARED [../shared/bench beside the repo];
#   PP_BUILD [release]: the passproxy the ratio is taken against — "release" is the build
#   SPEC §12 and ../shared/bench/limit/README.md quote (72–94 us/request); "fast" builds it
#   as Keyhold ships (fat LTO, one codegen unit, jemalloc: `--profile fast --features
#   jemalloc`), the stricter ceiling, into $LIMIT_TARGET_DIR/fast;
#   KH_LOG [file]: where Keyhold's per-request log line goes (a file in the run directory,
#   as a deployment writing to disk; "null" for /dev/null); NO_INSTALL [0]: fail instead
#   of apt-get installing wrk/nginx/curl.
#
# Bounds and cleanup: every wrk run stops after DURATION s (and is killed by `timeout`
#   30 s later); every readiness poll gives up after STARTUP_TIMEOUT s; the RSS sampler is
#   a bounded loop. Everything started here (nginx, keyhold, passproxy, samplers) is stopped
#   on exit by the PID recorded at launch (checked against /proc/<pid>/cmdline), never by name.
#   Everything listens on 127.0.0.1 only.
#
# Output: tables on stdout; raw JSON lines, logs and the summary in $PERF_DIR/gw-<ts>/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-3}"
REPS="${REPS:-3}"
CONCURRENCY="${CONCURRENCY:-1 8 64}"
STREAM="${STREAM:-0}"
WORKERS="${WORKERS:-2}"
WRK_THREADS="${WRK_THREADS:-1}"
STARTUP_REPS="${STARTUP_REPS:-3}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-20}"
WRK_TIMEOUT="${WRK_TIMEOUT:-10}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SEED_WORKSPACES="${SEED_WORKSPACES:-3}"
SEED_KEYS="${SEED_KEYS:-3}"
SEED_AUDIT="${SEED_AUDIT:-100}"
KH_PORT="${KH_PORT:-18092}"
PP_PORT="${PP_PORT:-18090}"
MOCK_PORT=18080
KH_LOG="${KH_LOG:-file}"
NO_INSTALL="${NO_INSTALL:-0}"
WITH_LITELLM="${WITH_LITELLM:-0}"
PERF_DIR="${PERF_DIR:-${TMPDIR:-/tmp}/keyhold-bench}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
LIMIT_TARGET_DIR="${LIMIT_TARGET_DIR:-$REPO/target/limit}"
PP_BUILD="${PP_BUILD:-release}"
case "$PP_BUILD" in
  release) PP_CARGO=(--release) ;;
  fast) PP_CARGO=(--profile fast --features jemalloc) ;;
  *) echo "PP_BUILD must be release or fast" >&2; exit 2 ;;
esac
RUN="$PERF_DIR/gw-$(date +%Y%m%d-%H%M%S)$([ "$STREAM" = 1 ] && echo -stream || true)"
RES="$RUN/results.jsonl"
mkdir -p "$RUN"

. "$REPO/bench/lib.sh"

SAMPLER_PID=""
cleanup() {
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  stop_started
}
trap cleanup EXIT
trap 'exit 130' INT TERM

post_code() {   # url authheader bodyfile -> http code
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 -X POST -H "$2" \
    -H 'Content-Type: application/json' --data-binary @"$3" "$1" 2>/dev/null || true
}
wait_200() {    # url auth body timeout_s -> ms until the first 200 (rc 1 on timeout)
  local t0 deadline; t0=$(now_ms); deadline=$((t0 + $4 * 1000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    [ "$(post_code "$1" "$2" "$3")" = 200 ] && { echo $(( $(now_ms) - t0 )); return 0; }
    sleep 0.01
  done
  return 1
}

# ---------------------------------------------------------------- tools
need_tools wrk nginx curl python3
[ -f "$SHARED/mock-upstream.nginx.conf" ] && [ -f "$SHARED/wrk-post.lua" ] && [ -f "$SHARED/limit/Cargo.toml" ] ||
  die "shared bench files not found under $SHARED (set SHARED=)"

# ---------------------------------------------------------------- build
if [ "$SKIP_BUILD" != 1 ]; then
  log "building Keyhold (release: fat LTO, codegen-units=1) ..."
  (cd "$REPO" && cargo build --release --bin keyhold) >&2
  log "building passproxy (shared limit crate, $PP_BUILD build) into $LIMIT_TARGET_DIR ..."
  CARGO_TARGET_DIR="$LIMIT_TARGET_DIR" cargo build "${PP_CARGO[@]}" --locked \
    --manifest-path "$SHARED/limit/Cargo.toml" --bin passproxy >&2
fi
KH_BIN="$TARGET_DIR/release/keyhold"
PP_BIN="$LIMIT_TARGET_DIR/$PP_BUILD/passproxy"
[ -x "$KH_BIN" ] || die "$KH_BIN missing (run without SKIP_BUILD=1)"
[ -x "$PP_BIN" ] || die "$PP_BIN missing (run without SKIP_BUILD=1)"
for p in "$KH_PORT" "$PP_PORT"; do port_busy "$p" && die "port $p is already in use" || true; done

# ---------------------------------------------------------------- bodies
MOCK="http://127.0.0.1:$MOCK_PORT"
if [ "$STREAM" = 1 ]; then FLAG=true; UP_BASE="$MOCK/stream/v1"; else FLAG=false; UP_BASE="$MOCK/v1"; fi
BODY="$RUN/body.json"
printf '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16,"temperature":0,"stream":%s}\n' "$FLAG" >"$BODY"

# ---------------------------------------------------------------- mock upstream
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
[ "$(post_code "$UP_BASE/chat/completions" "X-Bench: 1" "$BODY")" = 200 ] || die "mock chat endpoint is not 200"

# ---------------------------------------------------------------- keyhold
export KEYHOLD_DATABASE_URL="sqlite://$RUN/keyhold.db" KEYHOLD_DATA_DIR="$RUN/data" \
  KEYHOLD_MASTER_KEYS="v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
  KEYHOLD_SESSION_SECRET="gateway-bench-session-secret-0123456789abcdef" \
  KEYHOLD_BIND="127.0.0.1:$KH_PORT" KEYHOLD_PUBLIC_URL="http://127.0.0.1:$KH_PORT" \
  KEYHOLD_PROVIDER_OPENAI_BASE_URL="$UP_BASE" KEYHOLD_WORKERS="$WORKERS"
unset KEYHOLD_SMTP_URL RUST_LOG
mkdir -p "$RUN/data"
TOKEN="$("$KH_BIN" seed-demo --workspaces "$SEED_WORKSPACES" --keys "$SEED_KEYS" --audit "$SEED_AUDIT" --token-only)"
[[ "$TOKEN" == kh_* ]] || die "seed-demo printed no token"
KH_URL="http://127.0.0.1:$KH_PORT/v1/chat/completions"
PP_URL="http://127.0.0.1:$PP_PORT/v1/chat/completions"
KH_AUTH="Authorization: Bearer $TOKEN"
PP_AUTH="Authorization: Bearer tok_bench"
KH_OUT="$RUN/keyhold.log"; [ "$KH_LOG" = null ] && KH_OUT=/dev/null

STARTUP_MS=(); IDLE_KB=()
KH_PID=""
for r in $(seq 1 "$STARTUP_REPS"); do
  "$KH_BIN" serve >>"$KH_OUT" 2>&1 &
  KH_PID=$!; STARTED+=("$KH_PID:$KH_BIN")
  ms=$(wait_200 "$KH_URL" "$KH_AUTH" "$BODY" "$STARTUP_TIMEOUT") ||
    { tail -20 "$RUN/keyhold.log" >&2 || true; die "keyhold: no 200 within ${STARTUP_TIMEOUT}s"; }
  sleep 2; kb=$(rss_kb "$KH_PID")
  STARTUP_MS+=("$ms"); IDLE_KB+=("$kb")
  log "keyhold start #$r: first 200 after $ms ms, idle RSS $((kb / 1024)) MiB (pid $KH_PID)"
  if [ "$r" -lt "$STARTUP_REPS" ]; then
    stop_pid "$KH_PID" "$KH_BIN"; forget "$KH_PID"
    for _ in $(seq 1 100); do port_busy "$KH_PORT" || break; sleep 0.05; done
  fi
done

# ---------------------------------------------------------------- passproxy
BIND="127.0.0.1:$PP_PORT" WORKERS="$WORKERS" UPSTREAM_BASE="$UP_BASE" "$PP_BIN" >"$RUN/passproxy.log" 2>&1 &
PP_PID=$!; STARTED+=("$PP_PID:$PP_BIN")
PP_MS=$(wait_200 "$PP_URL" "$PP_AUTH" "$BODY" "$STARTUP_TIMEOUT") || die "passproxy: no 200 within ${STARTUP_TIMEOUT}s"
sleep 2; PP_IDLE_KB=$(rss_kb "$PP_PID")
log "passproxy ($PP_BUILD build): first 200 after $PP_MS ms, idle RSS $((PP_IDLE_KB / 1024)) MiB (pid $PP_PID)"

declare -A URL AUTH PID
URL[direct]="$UP_BASE/chat/completions"; AUTH[direct]="X-Bench: direct"; PID[direct]=""
URL[passproxy]="$PP_URL"; AUTH[passproxy]="$PP_AUTH"; PID[passproxy]="$PP_PID"
URL[keyhold]="$KH_URL"; AUTH[keyhold]="$KH_AUTH"; PID[keyhold]="$KH_PID"
TARGETS=(direct passproxy keyhold)

# ---------------------------------------------------------------- one wrk run
run_one() {   # rep conc target warm(0|1)
  local rep="$1" c="$2" n="$3" warm="$4" th dur pid cpu0="" cpu1="" s0 s1 out line peak=0
  th=$WRK_THREADS; [ "$c" -lt "$th" ] && th=$c
  dur=$DURATION; [ "$warm" = 1 ] && dur=$WARMUP
  pid="${PID[$n]}"
  [ -n "$pid" ] && cpu0=$(cpu_ticks "$pid")
  if [ -n "$pid" ] && [ "$warm" = 0 ]; then
    ( for _ in $(seq 1 $(( (dur + 5) * 4 ))); do rss_kb "$pid"; sleep 0.25; done ) >"$RUN/rss.sample" 2>/dev/null &
    SAMPLER_PID=$!
  fi
  s0=$(cpu_snapshot)
  out=$(WRK_BODY_FILE="$BODY" timeout $((dur + 30)) wrk -t"$th" -c"$c" -d"${dur}s" --timeout "${WRK_TIMEOUT}s" \
        -s "$SHARED/wrk-post.lua" -H "${AUTH[$n]}" "${URL[$n]}" 2>"$RUN/wrk.stderr" || true)
  s1=$(cpu_snapshot)
  [ -n "$pid" ] && cpu1=$(cpu_ticks "$pid")
  if [ -n "$SAMPLER_PID" ]; then
    kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
    peak=$(sort -n "$RUN/rss.sample" | tail -1); peak=${peak:-0}
  fi
  [ "$warm" = 1 ] && return 0
  line=$(printf '%s\n' "$out" | sed -n 's/^WRKJSON //p')
  if [ -z "$line" ]; then log "wrk gave no result for $n c=$c: $(tail -3 "$RUN/wrk.stderr")"; return 0; fi
  python3 - "$line" "$rep" "$c" "$n" "$cpu0" "$cpu1" "$peak" "$s0" "$s1" "$(getconf CLK_TCK)" >>"$RES" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); rep, c, n = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cpu0, cpu1, peak = sys.argv[5], sys.argv[6], int(sys.argv[7] or 0)
s0 = [int(x) for x in sys.argv[8].split()]; s1 = [int(x) for x in sys.argv[9].split()]
hz = int(sys.argv[10]); b, i, st = (s1[k] - s0[k] for k in range(3)); tot = max(b + i + st, 1)
d.update(rep=rep, conc=c, target=n, rps=d["requests"] / (d["duration_us"] / 1e6),
         errors=d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"],
         cpu_us_per_req=((int(cpu1) - int(cpu0)) * 1e6 / hz / max(d["requests"], 1)) if cpu0 and cpu1 else None,
         rss_peak_kb=peak or None, host_idle_pct=100.0 * i / tot, host_steal_pct=100.0 * st / tot)
print(json.dumps(d))
PY
  python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readlines()[-1]); print("[run] round %d c=%-3d %-9s %8.0f req/s  p50 %6.3f ms  p99 %7.3f ms  err %d  cpu %s us/req  idle %4.1f%% steal %4.1f%%" % (d["rep"], d["conc"], d["target"], d["rps"], d["lat_p50_us"]/1e3, d["lat_p99_us"]/1e3, d["errors"], "%.0f" % d["cpu_us_per_req"] if d["cpu_us_per_req"] is not None else "-", d["host_idle_pct"], d["host_steal_pct"]))' "$RES" >&2
}

# ---------------------------------------------------------------- run
log "targets: ${TARGETS[*]} | conc: $CONCURRENCY | ${DURATION}s x $REPS rounds | stream=$STREAM | $(nproc) cpus | load: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${TARGETS[@]}"; do run_one 0 8 "$n" 1; done
for rep in $(seq 1 "$REPS"); do
  for c in $CONCURRENCY; do
    k=${#TARGETS[@]}
    for j in $(seq 0 $((k - 1))); do
      run_one "$rep" "$c" "${TARGETS[$(( (j + rep - 1) % k ))]}" 0
      sleep 1
    done
  done
done
USAGE_ROWS=$(python3 - "$RUN/keyhold.db" <<'PY' 2>/dev/null || echo "?"
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from usage_events").fetchone()[0])
PY
)
log "load after the run: $(cut -d' ' -f1-3 /proc/loadavg); usage_events rows written by keyhold: $USAGE_ROWS"

# ---------------------------------------------------------------- summary
python3 - "$RES" "$STREAM" "${STARTUP_MS[*]}" "${IDLE_KB[*]}" "$PP_MS" "$PP_IDLE_KB" <<'PY' | tee "$RUN/summary.txt"
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
stream = sys.argv[2] == "1"
start_ms = [int(x) for x in sys.argv[3].split()]; idle_kb = [int(x) for x in sys.argv[4].split()]
pp_ms, pp_idle = int(sys.argv[5]), int(sys.argv[6])
med = st.median
def sel(t, c): return [r for r in rows if r["target"] == t and r["conc"] == c]
def spread(v): return 100.0 * (max(v) - min(v)) / med(v) if v and med(v) else 0.0
concs = sorted({r["conc"] for r in rows}); rounds = max(r["rep"] for r in rows)
print("\n%s, median of %d rounds; spread = (max-min)/median" % ("STREAMING (SSE)" if stream else "non-streaming", rounds))
print("%-9s %4s %9s %6s %8s %6s %8s %6s %8s %7s %6s" % ("target", "conc", "req/s", "sprd%", "p50 ms", "sprd%", "p99 ms", "sprd%", "cpu us/r", "peakMiB", "errors"))
for t in ("direct", "passproxy", "keyhold"):
    for c in concs:
        s = sel(t, c)
        if not s: continue
        rps = [r["rps"] for r in s]; p50 = [r["lat_p50_us"] / 1e3 for r in s]; p99 = [r["lat_p99_us"] / 1e3 for r in s]
        cpu = [r["cpu_us_per_req"] for r in s if r["cpu_us_per_req"] is not None]
        rss = [r["rss_peak_kb"] for r in s if r["rss_peak_kb"]]
        print("%-9s %4d %9.0f %6.1f %8.3f %6.1f %8.3f %6.1f %8s %7s %6d" % (t, c, med(rps), spread(rps), med(p50), spread(p50),
              med(p99), spread(p99), "%.1f" % med(cpu) if cpu else "-", "%.1f" % (max(rss) / 1024) if rss else "-",
              sum(r["errors"] for r in s)))
idle = [r["host_idle_pct"] for r in rows]; steal = [r["host_steal_pct"] for r in rows]
print("host during runs: idle%% median %.1f (min %.1f), steal%% median %.2f (max %.2f)" % (med(idle), min(idle), med(steal), max(steal)))

def per_round(t, c, key):
    return {r["rep"]: r[key] for r in sel(t, c)}
verdicts = []
def budget(name, value, limit, ok, detail):
    verdicts.append((name, value, limit, ok, detail))
hi = max(concs); lo = min(concs)
kh, pp = sel("keyhold", hi), sel("passproxy", hi)
if kh and pp:
    ratio = med([r["rps"] for r in kh]) / med([r["rps"] for r in pp])
    a, b = per_round("keyhold", hi, "rps"), per_round("passproxy", hi, "rps")
    rr = [a[k] / b[k] for k in sorted(a) if k in b]
    budget("req/s keyhold / passproxy @%d" % hi, "%.2f" % ratio, ">= 0.90", ratio >= 0.9,
           "per round %s; keyhold %.0f vs passproxy %.0f req/s" % ([round(x, 2) for x in rr], med(a.values()), med(b.values())))
    errs = sum(r["errors"] for r in rows if r["target"] == "keyhold")
    budget("errors + non-2xx, keyhold (all runs)", str(errs), "0", errs == 0, "")
    cpu = [r["cpu_us_per_req"] for r in kh if r["cpu_us_per_req"] is not None]
    ppcpu = [r["cpu_us_per_req"] for r in pp if r["cpu_us_per_req"] is not None]
    lim = 110 if stream else 80
    budget("CPU per request keyhold @%d" % hi, "%.1f us" % med(cpu), "<= %d us" % lim, med(cpu) <= lim,
           "rounds %s; passproxy %.1f us (rounds %s)" % ([round(x) for x in cpu], med(ppcpu), [round(x) for x in ppcpu]))
khl, dl, ppl = sel("keyhold", lo), sel("direct", lo), sel("passproxy", lo)
if khl and dl:
    add = med([r["lat_p50_us"] for r in khl]) / 1e3 - med([r["lat_p50_us"] for r in dl]) / 1e3
    a, d = per_round("keyhold", lo, "lat_p50_us"), per_round("direct", lo, "lat_p50_us")
    rd = [(a[k] - d[k]) / 1e3 for k in sorted(a) if k in d]
    ppadd = med([r["lat_p50_us"] for r in ppl]) / 1e3 - med([r["lat_p50_us"] for r in dl]) / 1e3 if ppl else float("nan")
    budget("added p50 over direct @%d" % lo, "%.3f ms" % add, "<= 0.25 ms", add <= 0.25,
           "per round %s; passproxy +%.3f ms" % ([round(x, 3) for x in rd], ppadd))
budget("RSS idle keyhold", "%.1f MiB" % (med(idle_kb) / 1024), "<= 30 MiB", med(idle_kb) / 1024 <= 30,
       "starts %s MiB; passproxy %.1f MiB" % ([round(x / 1024, 1) for x in idle_kb], pp_idle / 1024))
pk = [r["rss_peak_kb"] for r in rows if r["target"] == "keyhold" and r["rss_peak_kb"]]
pppk = [r["rss_peak_kb"] for r in rows if r["target"] == "passproxy" and r["rss_peak_kb"]]
if pk:
    budget("RSS loaded keyhold (peak, all runs)", "%.1f MiB" % (max(pk) / 1024), "<= 80 MiB", max(pk) / 1024 <= 80,
           "passproxy peak %.1f MiB" % (max(pppk) / 1024 if pppk else float("nan")))
budget("first 200 after start", "%d ms" % med(start_ms), "<= 1000 ms", med(start_ms) <= 1000,
       "starts %s ms; passproxy %d ms" % (start_ms, pp_ms))
print("\nbudgets (SPEC §12)")
print("%-40s %12s %12s  %-8s %s" % ("budget", "measured", "limit", "verdict", "detail"))
for name, value, limit, ok, detail in verdicts:
    print("%-40s %12s %12s  %-8s %s" % (name, value, limit, "met" if ok else "NOT MET", detail))
PY
log "raw: $RES  summary: $RUN/summary.txt"

# ---------------------------------------------------------------- optional LiteLLM beside Keyhold
if [ "$WITH_LITELLM" = 1 ]; then
  log "WITH_LITELLM=1: the shared harness, LiteLLM beside the running Keyhold (same mock)"
  TARGET="http://127.0.0.1:$KH_PORT" TARGET_NAME=keyhold AUTH_HEADER="$KH_AUTH" TARGET_PID="$KH_PID" \
    WITH_LITELLM=1 STREAM="$STREAM" DURATION="$DURATION" REPS="$REPS" CONCURRENCY="$CONCURRENCY" \
    NO_INSTALL="$NO_INSTALL" PERF_DIR="$RUN/litellm" bash "$SHARED/gateway-overhead.sh" || log "shared harness failed"
fi
