#!/usr/bin/env python3
"""Self-test of the bench verdicts on synthetic runs (no build, no server, a second or two):
the judge and the gateway and pages summaries must FAIL a run with a page bounced to /login,
an unreadable RSS, a wrk run without numbers, a storm of refused sign-ins, ... and PASS a
clean one.

    python3 bench/judge_selftest.py      # prints "N passed, N failed"; exit 1 on any failure
"""
import io
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from judge import Budgets, judge, wrk_row  # noqa: E402

results = []


def case(name, got, want):
    results.append((name, got == want))
    if got != want:
        print("FAIL %s: got %r, want %r" % (name, got, want))


def wrk(rps, p50=500, p99=2000, non2xx=0, login=0, errs=0, threads=1):
    return {"requests": int(rps * 10), "duration_us": 10_000_000, "bytes": 1, "err_connect": errs,
            "err_read": 0, "err_write": 0, "err_status": 0, "err_timeout": 0, "non2xx": non2xx,
            "login_redirects": login, "threads": threads, "lat_mean_us": p50, "lat_p50_us": p50,
            "lat_p90_us": p99, "lat_p99_us": p99, "lat_max_us": p99}


def judged(lines):
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        f.write(lines)
    try:
        return judge(f.name, out=io.StringIO())
    finally:
        os.unlink(f.name)


def run_summary(script, rows, args, files=None):
    """rc of judge.py over the budgets a summary script recorded for rows."""
    with tempfile.TemporaryDirectory() as d:
        res, bud = os.path.join(d, "results.jsonl"), os.path.join(d, "budgets.tsv")
        with open(res, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        for name, text in (files or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        argv = [sys.executable, os.path.join(HERE, script), "--results", res, "--budgets", bud]
        argv += [x.replace("{dir}", d) for x in args]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return subprocess.run([sys.executable, os.path.join(HERE, "judge.py"), bud],
                              stdout=subprocess.DEVNULL).returncode


# ---------------------------------------------------------------- judge.py
case("all met passes", judged("a\t0.95\t>=\t0.90\t\t\nb\t12\t<=\t30\tMiB\t\n"), 0)
case("NOT MET fails", judged("a\t0.85\t>=\t0.90\t\t\n"), 1)
case("empty value (unreadable RSS) fails", judged("RSS\t\t<=\t30\tMiB\t\n"), 1)
case("nan fails", judged("x\tnan\t<=\t1\t\t\n"), 1)
case("no budget at all fails", judged(""), 1)
with tempfile.TemporaryDirectory() as d:
    b = Budgets(os.path.join(d, "b.tsv"))
    b.check("tab\tin name", None, "<=", 1)
    case("check(None) is NOT TAKEN", judge(b.path, out=io.StringIO()), 1)

# ---------------------------------------------------------------- wrk_row
case("no request = missing", "missing" in wrk_row(wrk(0)), True)
case("no threads = non2xx not counted", wrk_row(wrk(100, threads=0))["non2xx"], None)
case("unreadable CPU = None", wrk_row(wrk(100), "", "5")["cpu_us_per_req"], None)


# ---------------------------------------------------------------- gateway_summary.py
def gw_rows(keyhold_64=None, keyhold_1=None, rss=40000):
    rows = []
    for c in (1, 64):
        for t, rps, cpu in (("direct", 20000, None), ("passproxy", 8000, 70), ("keyhold", 7600, 75)):
            d = wrk_row(wrk(rps, 100 if t == "direct" else 250), "1000" if cpu else "",
                        str(1000 + int(cpu * rps * 10 / 1e4)) if cpu else "", 100)
            d.update(rep=1, conc=c, target=t, rss_peak_kb=rss if t == "keyhold" else 9000,
                     rss_samples=40, host_idle_pct=10.0, host_steal_pct=0.1)
            if t == "keyhold" and c == 64 and keyhold_64 is not None:
                d = keyhold_64
            if t == "keyhold" and c == 1 and keyhold_1 is not None:
                d.update(keyhold_1)
            rows.append(d)
    return rows


GW = ["--stream", "0", "--reps", "1", "--concurrency", "1 64", "--startup-ms", "400", "--idle-kb", "17000",
      "--pp-ms", "30", "--pp-idle-kb", "9000", "--pp-build", "fast"]
case("gateway: clean run passes", run_summary("gateway_summary.py", gw_rows(), GW), 0)
case("gateway: 303s to /login fail", run_summary("gateway_summary.py", gw_rows(
    keyhold_1={"non2xx": 50, "login_redirects": 50}), GW), 1)
case("gateway: wrk without numbers fails", run_summary("gateway_summary.py", gw_rows(
    keyhold_64={"rep": 1, "conc": 64, "target": "keyhold", "missing": "wrk printed no numbers"}), GW), 1)
case("gateway: unreadable peak RSS fails", run_summary("gateway_summary.py", gw_rows(rss=None), GW), 1)
case("gateway: unreadable idle RSS fails", run_summary(
    "gateway_summary.py", gw_rows(), [x if x != "17000" else "-" for x in GW]), 1)
case("gateway: a missing run fails", run_summary("gateway_summary.py", gw_rows()[:-1], GW), 1)
case("gateway: CONCURRENCY without 1 fails", run_summary(
    "gateway_summary.py", gw_rows(), [x if x != "1 64" else "64" for x in GW]), 1)


def bedrock_rows(non2xx=0, missing=False):
    """The BEDROCK=1 round beside a clean run: the same process, a slower call."""
    rows = gw_rows()
    for c in (1, 64):
        d = wrk_row(wrk(5000, 400, non2xx=non2xx), "1000", str(1000 + int(110 * 5000 * 10 / 1e4)), 100)
        d.update(rep=1, conc=c, target="keyhold_bedrock", rss_peak_kb=40000, rss_samples=40,
                 host_idle_pct=10.0, host_steal_pct=0.1)
        if missing and c == 64:
            d = {"rep": 1, "conc": 64, "target": "keyhold_bedrock", "missing": "wrk printed no numbers"}
        rows.append(d)
    return rows


GWB = GW + ["--targets", "direct passproxy keyhold keyhold_bedrock"]
case("gateway: clean Bedrock round passes (its CPU is a figure)", run_summary(
    "gateway_summary.py", bedrock_rows(), GWB), 0)
case("gateway: non-2xx in the Bedrock round fail", run_summary(
    "gateway_summary.py", bedrock_rows(non2xx=3), GWB), 1)
case("gateway: a Bedrock run without numbers fails", run_summary(
    "gateway_summary.py", bedrock_rows(missing=True), GWB), 1)
case("gateway: a Bedrock round asked for but never run fails", run_summary(
    "gateway_summary.py", gw_rows(), GWB), 1)


# ---------------------------------------------------------------- pages_summary.py
def pg_rows(bounce=False):
    rows = []
    for t, rps in (("pagebench", 20000), ("kh_integrations", 9000), ("kh_keys", 8500)):
        d = wrk_row(wrk(60000, 300, 900, 600000, 600000) if bounce and t == "kh_keys" else wrk(rps), "1", "2", 100)
        d.update(label="pages", rep=1, target=t, conc=32)
        rows.append(d)
    for c in (4, 32):
        for label in ("calm", "storm"):
            d = wrk_row(wrk(3000, 1000, 30000), "1", "2", 100)
            d.update(label=label, rep=1, target="kh_keys", conc=c)
            rows.append(d)
    return rows


def storm(ok, failed):
    return {"storm-c%d.txt" % c: "STORM ...\nSTORMJSON %s\n" % json.dumps(
        {"clients": 20, "ok": ok, "failed": failed, "secs": 14}) for c in (4, 32)}


PG = ["--run", "{dir}", "--reps", "1", "--conns", "32", "--storm-conns", "20", "--storm-page-conns", "4"]
case("pages: clean run passes", run_summary("pages_summary.py", pg_rows(), PG, storm(900, 0)), 0)
case("pages: a page bounced to /login fails", run_summary("pages_summary.py", pg_rows(True), PG, storm(900, 0)), 1)
case("pages: refused sign-ins fail", run_summary("pages_summary.py", pg_rows(), PG, storm(0, 900)), 1)
case("pages: a storm without figures fails", run_summary("pages_summary.py", pg_rows(), PG, {}), 1)

passed = sum(1 for _, ok in results if ok)
print("%d passed, %d failed" % (passed, len(results) - passed))
sys.exit(0 if passed == len(results) else 1)
