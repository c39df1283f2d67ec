#!/usr/bin/env bash
# SPEC §12 signed-in page budgets, on SQLite, with the real session store and CSRF.
#
# What it does
#   1. builds Keyhold (release) and `pagebench` (../shared/bench/limit: GET /admin/integrations
#      with an in-memory session map, ~10 SQLite rows through r2d2 + web::block, askama);
#   2. seeds a fresh SQLite Keyhold (`keyhold seed-demo`, SEED_WORKSPACES workspaces, each
#      with an owner; the owners share the admin's password, see src/services/seed.rs),
#      starts `keyhold serve` (KEYHOLD_WORKERS=WORKERS) and pagebench (WORKERS, :18091);
#   3. signs in as the seeded admin and as the first workspace's owner through the real
#      form (GET /login for the session cookie and the csrf_token, POST /login), and checks
#      that both pages answer 200 with that cookie (not a redirect to /login);
#   4. REPS rounds, order rotated per round, of `wrk -t1 -c$CONNS -d${DURATION}s` (GET,
#      bench/wrk.lua, which counts every answer outside 2xx and the redirects to /login) on
#      pagebench's /admin/integrations, Keyhold's /admin/integrations (admin cookie) and
#      /w/<slug>/settings/keys (owner cookie): req/s, p50/p99, socket errors, non-2xx,
#      server CPU/request;
#   5. the sign-in storm: STORM_CONNS (20) clients signing in in a loop (each: GET /login,
#      POST /login with its own seeded owner account, argon2id verify on the server) while
#      wrk measures /w/<slug>/settings/keys at STORM_PAGE_CONNS (light: a few people
#      browsing) and at CONNS; each storm run beside a run without the storm.
#
# Budgets checked (SPEC §12): Keyhold req/s >= 0.4 x pagebench of the same round and
#   p99 <= 10 ms, on both pages; every answer of every run a 2xx with no socket error, on
#   every target (a redirect to /login is a failure); during 20 concurrent sign-ins the
#   other page's p99 <= 50 ms, with every one of those sign-ins succeeding (a storm of
#   refused sign-ins does no argon2 work and would prove nothing) and at least one done.
#
# Exit status: 0 only when every budget was measured and met; 1 when any is NOT MET or NOT
#   TAKEN (a wrk run without numbers or without its non-2xx count, the storm's figures missing),
#   each named on the RESULT lines at the end (bench/judge.py).
#
# Backends (BACKEND [both]): sqlite or postgres run the above on that backend (PostgreSQL: a
#   fresh database on PG_URL [postgres://postgres@127.0.0.1:5432], dropped at exit); both runs
#   it on SQLite, then on PostgreSQL, prints both pages side by side and judges issue 18's
#   budget: each page on PostgreSQL >= 0.8 x its SQLite req/s, with zero errors, and the
#   SQLite run's own SPEC budgets met.
#
# Usage
#   bench/pages.sh
#   DURATION=5 REPS=1 SKIP_BUILD=1 bench/pages.sh     # quick look
#
# Knobs (env, defaults in brackets): DURATION [10] s; REPS [3]; CONNS [32]; WORKERS [2];
#   STORM_CONNS [20]; STORM_PAGE_CONNS [4]; SEED_WORKSPACES [20] (>= STORM_CONNS: one owner
#   per signing-in client); SKIP_BUILD [0]; KH_PORT [18093]; PB_PORT [18091];
#   PERF_DIR [${TMPDIR:-/tmp}/keyhold-bench]; SHARED [../shared/bench]; NO_INSTALL [0].
#
# Bounds and cleanup: wrk runs stop after DURATION s (killed by `timeout` 30 s later), the
#   storm clients stop at their deadline (and are killed by `timeout` after that), readiness
#   polls give up after 20 s. Keyhold and pagebench are stopped on exit by the PID recorded at
#   launch. Everything listens on 127.0.0.1 only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}"
DURATION="${DURATION:-10}"
REPS="${REPS:-3}"
CONNS="${CONNS:-32}"
WORKERS="${WORKERS:-2}"
STORM_CONNS="${STORM_CONNS:-20}"
STORM_PAGE_CONNS="${STORM_PAGE_CONNS:-4}"
SEED_WORKSPACES="${SEED_WORKSPACES:-20}"
SKIP_BUILD="${SKIP_BUILD:-0}"
KH_PORT="${KH_PORT:-18093}"
PB_PORT="${PB_PORT:-18091}"
NO_INSTALL="${NO_INSTALL:-0}"
PERF_DIR="${PERF_DIR:-${TMPDIR:-/tmp}/keyhold-bench}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
LIMIT_TARGET_DIR="${LIMIT_TARGET_DIR:-$REPO/target/limit}"
RUN="$PERF_DIR/pages-$(date +%Y%m%d-%H%M%S)"
RES="$RUN/results.jsonl"
mkdir -p "$RUN"
[ "$SEED_WORKSPACES" -ge "$STORM_CONNS" ] || SEED_WORKSPACES="$STORM_CONNS"

. "$REPO/bench/lib.sh"
if [ "$BACKEND" = both ]; then
  rmdir "$RUN" 2>/dev/null || true
  run_per_backend "$REPO/bench/pages.sh"
  BOTH="$PERF_DIR/pages-both-$(date +%Y%m%d-%H%M%S)"; mkdir -p "$BOTH"
  BUDGETS="$BOTH/budgets.tsv"; : >"$BUDGETS"
  budget "SQLite run: every SPEC budget met" "$SQLITE_RC" "==" 0 "" "$SQLITE_RUN"
  PYTHONPATH="$BENCH_DIR" python3 - "$SQLITE_RUN/results.jsonl" "$PG_RUN/results.jsonl" "$BUDGETS" "$CONNS" <<'PY' | tee "$BOTH/summary.txt"
import json, statistics, sys
from judge import Budgets
def rows(p):
    try:
        return [json.loads(l) for l in open(p) if l.strip()]
    except OSError:
        return []
sq, pg, b, conns = rows(sys.argv[1]), rows(sys.argv[2]), Budgets(sys.argv[3]), int(sys.argv[4])
def med(rs, t, key):
    v = [r[key] for r in rs if r.get("label") == "pages" and r.get("target") == t and "missing" not in r]
    return statistics.median(v) if v else None
print("\nsigned-in pages @%d, median req/s and p99: SQLite vs PostgreSQL" % conns)
for t, page in (("kh_integrations", "/admin/integrations"), ("kh_keys", "keys page")):
    s, p = med(sq, t, "rps"), med(pg, t, "rps")
    s99, p99 = med(sq, t, "lat_p99_us"), med(pg, t, "lat_p99_us")
    print("%-20s SQLite %s req/s p99 %s ms | PostgreSQL %s req/s p99 %s ms" % (
        page, "%.0f" % s if s else "-", "%.2f" % (s99 / 1e3) if s99 else "-",
        "%.0f" % p if p else "-", "%.2f" % (p99 / 1e3) if p99 else "-"))
    b.check("%s req/s PostgreSQL / SQLite @%d" % (page, conns), p / s if s and p else None, ">=", "0.80")
    pe = [r.get("errors", 0) + (r.get("non2xx") or 0) for r in pg if r.get("target") == t and "missing" not in r]
    b.check("%s errors + non-2xx on PostgreSQL" % page, sum(pe) if pe else None, "<=", 0, "", "", fmt="%d")
PY
  judge "$BOTH/summary.txt" || { log "FAILED (above; $BUDGETS)"; exit 1; }
  exit 0
fi
record_run "$RUN"
BUDGETS="$RUN/budgets.tsv"; : >"$BUDGETS"
WRK_LUA="$REPO/bench/wrk.lua"

STORM_PID=""
cleanup() {
  if [ -n "$STORM_PID" ]; then kill "$STORM_PID" 2>/dev/null || true; wait "$STORM_PID" 2>/dev/null || true; fi
  stop_started
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_http() {   # url timeout_s
  for _ in $(seq 1 $(( $2 * 20 ))); do curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.05; done
  return 1
}

# ---------------------------------------------------------------- tools
need_tools wrk curl python3
[ -f "$SHARED/limit/Cargo.toml" ] || die "shared limit crate not found under $SHARED (set SHARED=)"

# ---------------------------------------------------------------- build
if [ "$SKIP_BUILD" != 1 ]; then
  log "building Keyhold (release) ..."
  (cd "$REPO" && cargo build --release --bin keyhold) >&2
  log "building pagebench (shared limit crate) into $LIMIT_TARGET_DIR ..."
  CARGO_TARGET_DIR="$LIMIT_TARGET_DIR" cargo build --release --locked \
    --manifest-path "$SHARED/limit/Cargo.toml" --bin pagebench >&2
fi
KH_BIN="$TARGET_DIR/release/keyhold"
PB_BIN="$LIMIT_TARGET_DIR/release/pagebench"
[ -x "$KH_BIN" ] || die "$KH_BIN missing (run without SKIP_BUILD=1)"
[ -x "$PB_BIN" ] || die "$PB_BIN missing (run without SKIP_BUILD=1)"
for p in "$KH_PORT" "$PB_PORT"; do port_busy "$p" && die "port $p is already in use" || true; done

# ---------------------------------------------------------------- keyhold + pagebench
BASE="http://127.0.0.1:$KH_PORT"
backend_db_url "$RUN"
log "backend: $BACKEND"
export KEYHOLD_DATABASE_URL="$DB_URL" KEYHOLD_DATA_DIR="$RUN/data" \
  KEYHOLD_MASTER_KEYS="v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
  KEYHOLD_SESSION_SECRET="pages-bench-session-secret-0123456789abcdef" \
  KEYHOLD_BIND="127.0.0.1:$KH_PORT" KEYHOLD_PUBLIC_URL="$BASE" KEYHOLD_WORKERS="$WORKERS"
unset KEYHOLD_SMTP_URL RUST_LOG
mkdir -p "$RUN/data"
SEED="$("$KH_BIN" seed-demo --workspaces "$SEED_WORKSPACES" --keys "$SEED_WORKSPACES" --audit 200)"
ADMIN_EMAIL=$(sed -n 's/^Admin: \(.*\) \/ .*/\1/p' <<<"$SEED")
PASSWORD=$(sed -n 's/^Admin: .* \/ \(.*\)$/\1/p' <<<"$SEED")
SLUG=$(sed -n 's/^API token of \/w\/\([^:]*\):.*/\1/p' <<<"$SEED")
STAMP=$(sed -n 's/^admin+\([^@]*\)@.*/\1/p' <<<"$ADMIN_EMAIL")
[ -n "$ADMIN_EMAIL" ] && [ -n "$PASSWORD" ] && [ -n "$SLUG" ] && [ -n "$STAMP" ] || die "could not read seed-demo's output: $SEED"
OWNER_EMAIL="owner0+$STAMP@demo.keyhold.test"

"$KH_BIN" serve >"$RUN/keyhold.log" 2>&1 &
KH_PID=$!; STARTED+=("$KH_PID:$KH_BIN")
wait_http "$BASE/healthz" 20 || { tail -20 "$RUN/keyhold.log" >&2; die "keyhold did not start"; }
BIND="127.0.0.1:$PB_PORT" DB="$RUN/pagebench.db" WORKERS="$WORKERS" "$PB_BIN" >"$RUN/pagebench.log" 2>&1 &
PB_PID=$!; STARTED+=("$PB_PID:$PB_BIN")
wait_http "http://127.0.0.1:$PB_PORT/admin/integrations" 20 || die "pagebench did not start"
log "keyhold pid $KH_PID on :$KH_PORT, pagebench pid $PB_PID on :$PB_PORT"

# sign_in EMAIL JAR -> prints the session cookie value
sign_in() {
  local csrf code
  csrf=$(curl -s -c "$2" -b "$2" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  [ -n "$csrf" ] || die "no csrf_token on GET /login"
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$2" -b "$2" -H "Origin: $BASE" \
    --data-urlencode "email=$1" --data-urlencode "password=$PASSWORD" --data-urlencode "csrf_token=$csrf" "$BASE/login")
  [ "$code" = 303 ] || die "sign-in of $1 answered $code (want 303)"
  awk '$6 == "keyhold_session" {v=$7} END {print v}' "$2"
}
ADMIN_COOKIE="keyhold_session=$(sign_in "$ADMIN_EMAIL" "$RUN/admin.jar")"
OWNER_COOKIE="keyhold_session=$(sign_in "$OWNER_EMAIL" "$RUN/owner.jar")"
PB_COOKIE="bo_session=sess_$(printf '%032x' 0)"
check_page() {  # url cookie what
  local code; code=$(curl -s -o "$RUN/page.html" -w '%{http_code}' -H "Cookie: $2" "$1")
  [ "$code" = 200 ] || { head -c 400 "$RUN/page.html" >&2; die "$3 answered $code with the cookie (want 200)"; }
  log "$3: 200, $(wc -c <"$RUN/page.html") bytes"
}
check_page "$BASE/admin/integrations" "$ADMIN_COOKIE" "keyhold /admin/integrations (admin)"
check_page "$BASE/w/$SLUG/settings/keys" "$OWNER_COOKIE" "keyhold /w/$SLUG/settings/keys (owner)"
check_page "http://127.0.0.1:$PB_PORT/admin/integrations" "$PB_COOKIE" "pagebench /admin/integrations"

declare -A URL COOKIE PID
URL[pagebench]="http://127.0.0.1:$PB_PORT/admin/integrations"; COOKIE[pagebench]="$PB_COOKIE"; PID[pagebench]="$PB_PID"
URL[kh_integrations]="$BASE/admin/integrations"; COOKIE[kh_integrations]="$ADMIN_COOKIE"; PID[kh_integrations]="$KH_PID"
URL[kh_keys]="$BASE/w/$SLUG/settings/keys"; COOKIE[kh_keys]="$OWNER_COOKIE"; PID[kh_keys]="$KH_PID"

missing_run() {   # label rep target conns why: a run without numbers, recorded for the judge
  python3 -c 'import json,sys; print(json.dumps({"label": sys.argv[1], "rep": int(sys.argv[2]), "target": sys.argv[3], "conc": int(sys.argv[4]), "missing": sys.argv[5]}))' \
    "$1" "$2" "$3" "$4" "$5" >>"$RES"
}
run_one() {   # label rep target conns
  local label="$1" rep="$2" n="$3" c="$4" pid cpu0 cpu1 out line
  pid="${PID[$n]}"; cpu0=$(cpu_ticks "$pid")
  out=$(WRK_BODY_FILE='' timeout $((DURATION + 30)) wrk -t1 -c"$c" -d"${DURATION}s" --timeout 10s -s "$WRK_LUA" \
        -H "Cookie: ${COOKIE[$n]}" "${URL[$n]}" 2>"$RUN/wrk.stderr" || true)
  cpu1=$(cpu_ticks "$pid")
  line=$(sed -n 's/^WRKJSON //p' <<<"$out")
  if [ -z "$line" ]; then
    missing_run "$label" "$rep" "$n" "$c" "wrk printed no numbers: $(tail -3 "$RUN/wrk.stderr" | tr '\n' ' ')"
  else
    PYTHONPATH="$BENCH_DIR" python3 - "$line" "$label" "$rep" "$n" "$c" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" \
      >>"$RES" <<'PY' || missing_run "$label" "$rep" "$n" "$c" "wrk's numbers could not be read: $line"
import json, sys
from judge import wrk_row
d = wrk_row(json.loads(sys.argv[1]), sys.argv[6], sys.argv[7], int(sys.argv[8]))
d.update(label=sys.argv[2], rep=int(sys.argv[3]), target=sys.argv[4], conc=int(sys.argv[5]))
print(json.dumps(d))
PY
  fi
  python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readlines()[-1]); print("[run] %-6s round %d %-16s c=%-3d NOT TAKEN: %s" % (d["label"], d["rep"], d["target"], d["conc"], d["missing"])) if "missing" in d else print("[run] %-6s round %d %-16s c=%-3d %8.0f req/s  p50 %6.3f ms  p99 %7.3f ms  errors %d  non-2xx %s (to /login %s)  cpu %s us/req" % (d["label"], d["rep"], d["target"], d["conc"], d["rps"], d["lat_p50_us"]/1e3, d["lat_p99_us"]/1e3, d["errors"], d["non2xx"], d.get("login_redirects"), "%.0f" % d["cpu_us_per_req"] if d["cpu_us_per_req"] is not None else "-"))' "$RES" >&2
}

# ---------------------------------------------------------------- page throughput
log "pages: ${DURATION}s x $REPS rounds, wrk -t1 -c$CONNS | $(nproc) cpus | load: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in pagebench kh_integrations kh_keys; do
  timeout 20 wrk -t1 -c8 -d2s -H "Cookie: ${COOKIE[$n]}" "${URL[$n]}" >/dev/null 2>&1 || true
done
TARGETS=(pagebench kh_integrations kh_keys)
for rep in $(seq 1 "$REPS"); do
  for j in 0 1 2; do run_one pages "$rep" "${TARGETS[$(( (j + rep - 1) % 3 ))]}" "$CONNS"; sleep 1; done
done

# ---------------------------------------------------------------- sign-in storm
cat >"$RUN/storm.py" <<'PY'
# N clients, each signing in in a loop as its own seeded owner until the deadline:
# GET /login (fresh session, csrf_token), POST /login (argon2id verify on the server).
import http.client, json, re, sys, threading, time, urllib.parse
port, n, secs, stamp, password = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
deadline = time.monotonic() + secs
ok, bad, lat = [0] * n, [0] * n, [[] for _ in range(n)]
def client(i):
    email = "owner%d+%s@demo.keyhold.test" % (i, stamp)
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/login"); r = c.getresponse(); page = r.read().decode()
            cookie = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', page).group(1)
            body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": csrf})
            t0 = time.monotonic()
            c.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                      "Origin": "http://127.0.0.1:%d" % port, "Cookie": "; ".join(cookie)})
            r = c.getresponse(); r.read(); c.close()
            lat[i].append(time.monotonic() - t0)
            if r.status == 303: ok[i] += 1
            else: bad[i] += 1
        except Exception:
            bad[i] += 1; time.sleep(0.05)
ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
allv = sorted(x for l in lat for x in l)
p = lambda q: allv[min(len(allv) - 1, int(q * len(allv)))] * 1e3 if allv else float("nan")
print("STORM %d sign-ins ok, %d failed, %.1f/s; sign-in latency p50 %.0f ms p99 %.0f ms" %
      (sum(ok), sum(bad), sum(ok) / secs, p(0.5), p(0.99)))
print("STORMJSON " + json.dumps({"clients": n, "ok": sum(ok), "failed": sum(bad), "secs": secs}))
PY
for c in "$STORM_PAGE_CONNS" "$CONNS"; do
  run_one calm 1 kh_keys "$c"; sleep 1
  timeout $((DURATION + 60)) python3 "$RUN/storm.py" "$KH_PORT" "$STORM_CONNS" $((DURATION + 4)) "$STAMP" "$PASSWORD" \
    >"$RUN/storm-c$c.txt" 2>&1 &
  STORM_PID=$!
  sleep 2
  run_one storm 1 kh_keys "$c"
  wait "$STORM_PID" || true; STORM_PID=""
  log "storm during c=$c: $(cat "$RUN/storm-c$c.txt")"
  sleep 1
done

# ---------------------------------------------------------------- summary and verdicts
SUMMARY_RC=0
python3 "$BENCH_DIR/pages_summary.py" --results "$RES" --budgets "$BUDGETS" --run "$RUN" --reps "$REPS" \
  --conns "$CONNS" --storm-conns "$STORM_CONNS" --storm-page-conns "$STORM_PAGE_CONNS" \
  | tee "$RUN/summary.txt" || SUMMARY_RC=$?
[ "$SUMMARY_RC" = 0 ] || not_taken "pages summary" "pages_summary.py failed (rc $SUMMARY_RC)"
log "raw: $RES  summary: $RUN/summary.txt"
judge "$RUN/summary.txt" || { log "FAILED: a budget NOT MET or NOT TAKEN (above; $BUDGETS)"; exit 1; }
log "PASSED: every budget measured and met"
