#!/usr/bin/env bash
# SPEC §12 scale budget: 10,000 workspaces, 50,000 keys, 1,000,000 audit events; every list
# page ≤ 50 ms server time.
#
# Seeds a fresh database with `keyhold seed-demo` (timed), starts a release `keyhold serve`,
# signs in as the seeded admin (and as the first workspace's owner) and times every list
# page, the audit filters, a deep keyset page and the filtered CSV export with curl: one
# warm-up, then the median of 5 (time to first byte and total; loopback, so this is server
# time). Prints a Markdown table and writes it to $OUT_DIR/scale-<backend>.md.
#
#   bench/scale.sh                       # SQLite
#   SCALE_PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/scale.sh   # + PostgreSQL
#   SCALE_BACKENDS=postgres SCALE_PG_URL=... bench/scale.sh                    # PostgreSQL only
#
# SCALE_WORKSPACES / SCALE_KEYS / SCALE_AUDIT shrink the data for a quick try; SCALE_RUNS,
# SCALE_BUDGET_MS and OUT_DIR change the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKSPACES="${SCALE_WORKSPACES:-10000}"
KEYS="${SCALE_KEYS:-50000}"
AUDIT="${SCALE_AUDIT:-1000000}"
RUNS="${SCALE_RUNS:-5}"
BUDGET_MS="${SCALE_BUDGET_MS:-50}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT_DIR="${OUT_DIR:-$TARGET/bench}"
BACKENDS="${SCALE_BACKENDS:-sqlite${SCALE_PG_URL:+ postgres}}"
mkdir -p "$OUT_DIR"

# KEYHOLD_BIN=path/to/keyhold skips the build (a release build of this tree).
BIN="${KEYHOLD_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --locked --bin keyhold
  BIN="$TARGET/release/keyhold"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql "$SCALE_PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk '{printf "%.1f", $1*1000}'; }
# HTML-unescape what askama escapes in an href.
unescape() { sed -e 's/&amp;/\&/g' -e 's/&#x2f;/\//gi' -e 's/&#x3d;/=/gi' -e 's/&#43;/+/g' -e 's/&#x2b;/+/gi'; }

# time_page NAME PATH JAR: warm-up, then RUNS timed GETs; prints one table row. Pages are
# judged on their total time, CSV exports on their first byte.
time_page() {
  local name="$1" path="$2" jar="$3" ttfb total code
  code=$(curl -s -o "$WORK/page" -w '%{http_code}' -b "$jar" "$BASE$path")
  if [ "$code" != 200 ]; then
    echo "  !! $path answered $code" >&2
    sed -n '1,20p' "$WORK/page" >&2
    exit 1
  fi
  : >"$WORK/t"
  for _ in $(seq "$RUNS"); do
    curl -s -o /dev/null -b "$jar" -w '%{time_starttransfer} %{time_total}\n' "$BASE$path" >>"$WORK/t"
  done
  ttfb=$(cut -d' ' -f1 "$WORK/t" | median | ms)
  total=$(cut -d' ' -f2 "$WORK/t" | median | ms)
  # A CSV export streams: its first byte is held to the budget, its total grows with the
  # rows exported (shown with the count).
  local judged="$total" verdict=ok
  case "$path" in
    *.csv*)
      judged="$ttfb"
      name="$name ($(($(wc -l <"$WORK/page") - 1)) rows)"
      ;;
  esac
  if awk -v t="$judged" -v b="$BUDGET_MS" 'BEGIN {exit !(t > b)}'; then verdict="**over budget**"; OVER=$((OVER + 1)); fi
  printf '| %s | `%s` | %s | %s | %s |\n' "$name" "$path" "$ttfb" "$total" "$verdict" | tee -a "$TABLE" >&2
}

# sign_in EMAIL PASSWORD JAR
sign_in() {
  local csrf code
  csrf=$(curl -s -c "$3" -b "$3" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$3" -b "$3" -H "Origin: $BASE" \
    --data-urlencode "email=$1" --data-urlencode "password=$2" --data-urlencode "csrf_token=$csrf" "$BASE/login")
  [ "$code" = 303 ] || { echo "sign-in of $1 failed ($code)" >&2; exit 1; }
}

run_backend() {
  local backend="$1" db_url
  local data="$WORK/$backend"
  mkdir -p "$data"
  case "$backend" in
    sqlite) db_url="sqlite://$data/keyhold.db" ;;
    postgres)
      PG_DB="kh_scale_$$"
      psql "$SCALE_PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
      psql "$SCALE_PG_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
      db_url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$SCALE_PG_URL" "$PG_DB")"
      ;;
  esac
  local port; port=$(free_port)
  BASE="http://127.0.0.1:$port"
  export KEYHOLD_DATA_DIR="$data" KEYHOLD_DATABASE_URL="$db_url" KEYHOLD_BIND="127.0.0.1:$port" \
    KEYHOLD_PUBLIC_URL="$BASE" KEYHOLD_SESSION_SECRET="scale-bench-session-secret-long-enough-for-hmac" \
    KEYHOLD_MASTER_KEYS="$("$BIN" gen-master-key --id v1)" RUST_LOG=warn
  unset KEYHOLD_SMTP_URL

  echo "== $backend: seeding $WORKSPACES workspaces, $KEYS keys, $AUDIT audit events" >&2
  local t0 t1 seed_out seed_secs
  t0=$(date +%s.%N)
  seed_out=$("$BIN" seed-demo --workspaces "$WORKSPACES" --keys "$KEYS" --audit "$AUDIT")
  t1=$(date +%s.%N)
  seed_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b-a}')
  echo "$seed_out" >&2
  local admin_email admin_password slug stamp
  admin_email=$(echo "$seed_out" | sed -n 's/^Admin: \(.*\) \/ .*/\1/p')
  admin_password=$(echo "$seed_out" | sed -n 's/^Admin: .* \/ \(.*\)$/\1/p')
  slug=$(echo "$seed_out" | sed -n 's/^API token of \/w\/\([^:]*\):.*/\1/p')
  stamp=$(echo "$admin_email" | sed -n 's/^admin+\([^@]*\)@.*/\1/p')

  "$BIN" serve >"$WORK/serve-$backend.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "$BASE/healthz" >/dev/null

  local admin="$WORK/admin-$backend.jar" owner="$WORK/owner-$backend.jar"
  sign_in "$admin_email" "$admin_password" "$admin"
  # Seeded owners share the admin's password.
  sign_in "owner0+$stamp@demo.keyhold.test" "$admin_password" "$owner"

  local ws_id next deep day0 day1
  ws_id=$(curl -s -b "$admin" "$BASE/admin/workspaces" | grep -o 'href="/admin/workspaces/[^"]*"' | head -1 | sed 's/href="\/admin\/workspaces\/\(.*\)"/\1/')
  next=$(curl -s -b "$admin" "$BASE/admin/audit" | grep -o 'href="[^"]*before=[^"]*" rel="next"' | head -1 | sed 's/href="\([^"]*\)".*/\1/' | unescape)
  # Deep in the log: 90% of the way back.
  local newest; newest=$(echo "$next" | sed -n 's/.*before=\([0-9]*\).*/\1/p')
  deep="/admin/audit?before=$((newest / 10))"
  # A week, some 30 days into the 90 the seeded events span.
  day0=$(date -u -d '-60 days' +%F); day1=$(date -u -d '-53 days' +%F)

  TABLE="$OUT_DIR/scale-$backend.md"
  OVER=0
  {
    echo
    echo "### $backend — seeded in ${seed_secs} s"
    echo
    echo "| page | path | first byte ms | total ms | ≤ ${BUDGET_MS} ms |"
    echo "| --- | --- | ---: | ---: | --- |"
  } | tee "$TABLE" >&2
  time_page "Overview (charts)" "/admin" "$admin"
  time_page "Users" "/admin/users" "$admin"
  time_page "Users, search" "/admin/users?q=owner4242" "$admin"
  time_page "Workspaces" "/admin/workspaces" "$admin"
  time_page "Workspaces, search" "/admin/workspaces?q=workspace%204242" "$admin"
  time_page "Workspace detail" "/admin/workspaces/$ws_id" "$admin"
  time_page "Integrations" "/admin/integrations" "$admin"
  time_page "Audit" "/admin/audit" "$admin"
  time_page "Audit, next page" "$next" "$admin"
  time_page "Audit, deep keyset page" "$deep" "$admin"
  time_page "Audit by actor" "/admin/audit?actor=$(python3 -c 'import sys,urllib.parse as u; print(u.quote(sys.argv[1]))' "$admin_email")" "$admin"
  time_page "Audit by action" "/admin/audit?action=member.added" "$admin"
  time_page "Audit by action prefix" "/admin/audit?action=workspace_key.*" "$admin"
  time_page "Audit by workspace" "/admin/audit?workspace=$ws_id" "$admin"
  time_page "Audit by date range" "/admin/audit?from=$day0&to=$day1" "$admin"
  time_page "Audit by action and dates" "/admin/audit?action=api_token.created&from=$day0&to=$day1" "$admin"
  time_page "Audit CSV, one workspace" "/admin/audit.csv?workspace=$ws_id" "$admin"
  time_page "Audit CSV, one week of one action" "/admin/audit.csv?action=member.added&from=$day0&to=$day1" "$admin"
  time_page "Owner: API keys" "/w/$slug/settings/keys" "$owner"
  time_page "Owner: audit" "/w/$slug/audit" "$owner"
  time_page "Owner: members" "/w/$slug/settings/members" "$owner"
  time_page "Owner: usage" "/w/$slug/usage" "$owner"
  echo "$OVER page(s) over the ${BUDGET_MS} ms budget on $backend" >&2

  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if [ -n "$PG_DB" ]; then psql "$SCALE_PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null; PG_DB=""; fi
}

for b in $BACKENDS; do run_backend "$b"; done
echo >&2
cat "$OUT_DIR"/scale-*.md
