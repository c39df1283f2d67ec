#!/usr/bin/env python3
"""gateway.sh's summary: the per-target table from results.jsonl, and every SPEC §12 gateway
budget recorded in the budgets file for bench/judge.py. Missing runs, missing readings and
budgets whose connection count was not run are recorded NOT TAKEN, never skipped.

    gateway_summary.py --results R --budgets B --stream 0|1 --reps N --concurrency "1 8 64"
        --startup-ms "412 398 405" --idle-kb "17000 - 17100" --pp-ms 30 --pp-idle-kb 9000
        --pp-build release [--targets "direct passproxy keyhold keyhold_pg keyhold_bedrock"
        --backend both]
("-" in --idle-kb / --pp-idle-kb: that reading was not taken.)

keyhold_bedrock (BEDROCK=1) is the same Keyhold calling a Bedrock model: its only budget is
the errors + non-2xx line every target gets; its req/s, latency and CPU per call are printed
beside the OpenAI-wire keyhold target as figures.
"""
import argparse
import json
import statistics as st

from judge import Budgets, number

TARGETS = ("direct", "passproxy", "keyhold")  # + keyhold_pg (--backend both), keyhold_bedrock
HI, LO = 64, 1  # the connection counts SPEC §12 names


def med(v):
    v = [x for x in v if x is not None]
    return st.median(v) if v else None


def spread(v):
    m = med(v)
    return 100.0 * (max(v) - min(v)) / m if v and m else 0.0


def fmt(v, f):
    return f % v if v is not None else "-"


def main():
    ap = argparse.ArgumentParser()
    for a in ("results", "budgets", "stream", "reps", "concurrency", "startup-ms", "idle-kb",
              "pp-ms", "pp-idle-kb", "pp-build"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--targets", default=" ".join(TARGETS))
    ap.add_argument("--backend", default="sqlite")
    a = ap.parse_args()
    targets = tuple(a.targets.split())
    b = Budgets(a.budgets)
    stream = a.stream == "1"
    reps = int(a.reps)
    concs = [int(x) for x in a.concurrency.split()]
    rows = read_rows(a.results)

    # Every run that should have numbers has them, or is NOT TAKEN by name.
    runs = {(r["rep"], r["conc"], r["target"]): r for r in rows}
    for rep in range(1, reps + 1):
        for c in concs:
            for t in targets:
                r = runs.get((rep, c, t))
                if r is None:
                    b.not_taken("wrk run round %d c=%d %s" % (rep, c, t), "no result recorded")
                elif "missing" in r:
                    b.not_taken("wrk run round %d c=%d %s" % (rep, c, t), r["missing"])
    good = [r for r in rows if "missing" not in r]

    def sel(t, c):
        return [r for r in good if r["target"] == t and r["conc"] == c]

    def per_round(t, c, key):
        return {r["rep"]: r[key] for r in sel(t, c)}

    print("\n%s, median of %d rounds; spread = (max-min)/median" % (
        "STREAMING (SSE)" if stream else "non-streaming", reps))
    if a.backend != "both":
        print("keyhold runs on %s" % ("PostgreSQL" if a.backend == "postgres" else "SQLite"))
    else:
        print("keyhold on SQLite, keyhold_pg on PostgreSQL (same build, same rounds)")
    print("%-15s %4s %9s %6s %8s %6s %8s %6s %8s %7s %6s %7s" % (
        "target", "conc", "req/s", "sprd%", "p50 ms", "sprd%", "p99 ms", "sprd%", "cpu us/r", "peakMiB",
        "errors", "non-2xx"))
    for t in targets:
        for c in concs:
            s = sel(t, c)
            if not s:
                continue
            rps = [r["rps"] for r in s]
            p50 = [r["lat_p50_us"] / 1e3 for r in s]
            p99 = [r["lat_p99_us"] / 1e3 for r in s]
            cpu = [r["cpu_us_per_req"] for r in s if r["cpu_us_per_req"] is not None]
            rss = [r["rss_peak_kb"] for r in s if r.get("rss_peak_kb")]
            n2 = [r["non2xx"] for r in s]
            print("%-15s %4d %9.0f %6.1f %8.3f %6.1f %8.3f %6.1f %8s %7s %6d %7s" % (
                t, c, med(rps), spread(rps), med(p50), spread(p50), med(p99), spread(p99),
                fmt(med(cpu), "%.1f"), fmt(max(rss) / 1024 if rss else None, "%.1f"),
                sum(r["errors"] for r in s), "?" if None in n2 else sum(n2)))
    if good:
        idle = [r["host_idle_pct"] for r in good]
        steal = [r["host_steal_pct"] for r in good]
        print("host during runs: idle%% median %.1f (min %.1f), steal%% median %.2f (max %.2f)" % (
            med(idle), min(idle), med(steal), max(steal)))

    if "keyhold_bedrock" in targets:
        bedrock_figures(sel, concs)

    # Zero socket errors and zero non-2xx on every target, in every run that has numbers.
    for t in targets:
        s = [r for r in good if r["target"] == t]
        if not s:
            b.not_taken("errors + non-2xx, %s (all runs)" % t, "no run of %s has numbers" % t)
            continue
        errs = sum(r["errors"] for r in s)
        n2 = [r["non2xx"] for r in s]
        if None in n2:
            b.not_taken("errors + non-2xx, %s (all runs)" % t, "non-2xx not counted in %d run(s)" % n2.count(None))
            continue
        login = sum(r.get("login_redirects") or 0 for r in s)
        b.check("errors + non-2xx, %s (all runs)" % t, errs + sum(n2), "<=", 0, "",
                "socket errors %d, non-2xx %d (%d to /login), wrk err_status %d, over %d runs" % (
                    errs, sum(n2), login, sum(r["err_status"] for r in s), len(s)), fmt="%d")

    pp_name = "passproxy (%s build)" % a.pp_build
    kh, pp = sel("keyhold", HI), sel("passproxy", HI)
    name = "req/s keyhold / %s @%d" % (pp_name, HI)
    if HI not in concs:
        b.not_taken(name, "CONCURRENCY has no %d" % HI)
    elif not kh or not pp:
        b.not_taken(name, "no keyhold or passproxy run @%d has numbers" % HI)
    else:
        ka, pa = per_round("keyhold", HI, "rps"), per_round("passproxy", HI, "rps")
        rr = [ka[k] / pa[k] for k in sorted(ka) if k in pa]
        b.check(name, med(ka.values()) / med(pa.values()), ">=", "0.90", "",
                "per round %s; keyhold %.0f vs passproxy %.0f req/s" % (
                    [round(x, 2) for x in rr], med(ka.values()), med(pa.values())))
    if "keyhold_pg" in targets:
        postgres_budgets(b, sel, per_round, concs, good)

    lim = 110 if stream else 80
    name = "CPU per request keyhold @%d" % HI
    if HI not in concs or not kh:
        b.not_taken(name, "no keyhold run @%d has numbers" % HI)
    else:
        cpu = [r["cpu_us_per_req"] for r in kh]
        ppcpu = [r["cpu_us_per_req"] for r in pp]
        if None in cpu:
            b.not_taken(name, "/proc/<pid>/stat unreadable in %d run(s)" % cpu.count(None))
        else:
            b.check(name, med(cpu), "<=", lim, "us", "rounds %s; passproxy %s us (rounds %s)" % (
                [round(x) for x in cpu], fmt(med(ppcpu), "%.1f"), [round(x) if x is not None else "-" for x in ppcpu]),
                fmt="%.1f")

    name = "added p50 over direct @%d" % LO
    khl, dl, ppl = sel("keyhold", LO), sel("direct", LO), sel("passproxy", LO)
    if LO not in concs:
        b.not_taken(name, "CONCURRENCY has no %d" % LO)
    elif not khl or not dl:
        b.not_taken(name, "no keyhold or direct run @%d has numbers" % LO)
    else:
        add = med([r["lat_p50_us"] for r in khl]) / 1e3 - med([r["lat_p50_us"] for r in dl]) / 1e3
        ka, da = per_round("keyhold", LO, "lat_p50_us"), per_round("direct", LO, "lat_p50_us")
        rd = [(ka[k] - da[k]) / 1e3 for k in sorted(ka) if k in da]
        ppadd = med([r["lat_p50_us"] for r in ppl]) / 1e3 - med([r["lat_p50_us"] for r in dl]) / 1e3 if ppl else None
        b.check(name, add, "<=", "0.25", "ms", "per round %s; passproxy +%s ms" % (
            [round(x, 3) for x in rd], fmt(ppadd, "%.3f")), fmt="%.3f")

    idle_kb = [number(x) for x in a.idle_kb.split()]
    pp_idle = number(a.pp_idle_kb)
    name = "RSS idle keyhold"
    if not idle_kb:
        b.not_taken(name, "no start was measured")
    elif None in idle_kb or min(idle_kb) <= 0:
        b.not_taken(name, "VmRSS unreadable in %d of %d start(s)" % (
            sum(1 for x in idle_kb if not x), len(idle_kb)))
    else:
        b.check(name, med(idle_kb) / 1024, "<=", 30, "MiB", "starts %s MiB; passproxy %s MiB" % (
            [round(x / 1024, 1) for x in idle_kb], fmt(pp_idle / 1024 if pp_idle else None, "%.1f")), fmt="%.1f")

    name = "RSS loaded keyhold (peak, all runs)"
    khall = [r for r in good if r["target"] == "keyhold"]
    unread = [r for r in khall if not r.get("rss_peak_kb")]
    if not khall:
        b.not_taken(name, "no keyhold run has numbers")
    elif unread:
        b.not_taken(name, "VmRSS never read during %d keyhold run(s)" % len(unread))
    else:
        pppk = [r["rss_peak_kb"] for r in good if r["target"] == "passproxy" and r.get("rss_peak_kb")]
        b.check(name, max(r["rss_peak_kb"] for r in khall) / 1024, "<=", 80, "MiB", "passproxy peak %s MiB" % (
            fmt(max(pppk) / 1024 if pppk else None, "%.1f")), fmt="%.1f")

    start_ms = [number(x) for x in a.startup_ms.split()]
    name = "first 200 after start"
    if not start_ms or None in start_ms:
        b.not_taken(name, "no start time measured")
    else:
        b.check(name, med(start_ms), "<=", 1000, "ms", "starts %s ms; passproxy %s ms" % (
            [int(x) for x in start_ms], a.pp_ms), fmt="%.0f")


def postgres_budgets(b, sel, per_round, concs, good):
    """Issue 18: the same Keyhold on PostgreSQL against SQLite, in the same rounds."""
    name = "req/s keyhold_pg / keyhold (SQLite) @%d" % HI
    pg, sq = sel("keyhold_pg", HI), sel("keyhold", HI)
    if HI not in concs:
        b.not_taken(name, "CONCURRENCY has no %d" % HI)
    elif not pg or not sq:
        b.not_taken(name, "no keyhold or keyhold_pg run @%d has numbers" % HI)
    else:
        pa, sa = per_round("keyhold_pg", HI, "rps"), per_round("keyhold", HI, "rps")
        rr = [pa[k] / sa[k] for k in sorted(pa) if k in sa]
        b.check(name, med(pa.values()) / med(sa.values()), ">=", "0.90", "",
                "per round %s; PostgreSQL %.0f vs SQLite %.0f req/s" % (
                    [round(x, 2) for x in rr], med(pa.values()), med(sa.values())))
    name = "p99 keyhold_pg @%d" % HI
    if not pg:
        b.not_taken(name, "no keyhold_pg run @%d has numbers" % HI)
    else:
        p99 = [r["lat_p99_us"] / 1e3 for r in pg]
        b.check(name, med(p99), "<=", 10, "ms", "rounds %s ms; SQLite %s ms" % (
            [round(x, 2) for x in p99], fmt(med([r["lat_p99_us"] / 1e3 for r in sq]), "%.2f")))
    name = "RSS loaded keyhold_pg (peak, all runs)"
    runs = [r for r in good if r["target"] == "keyhold_pg"]
    if not runs or any(not r.get("rss_peak_kb") for r in runs):
        b.not_taken(name, "VmRSS not read in every keyhold_pg run")
    else:
        b.check(name, max(r["rss_peak_kb"] for r in runs) / 1024, "<=", 80, "MiB", "", fmt="%.1f")


def bedrock_figures(sel, concs):
    """The Bedrock round beside the OpenAI wire, per connection count: figures, no budget."""
    print("\nBedrock (Converse + SigV4) beside the OpenAI wire: the same Keyhold, the same rounds "
          "(medians; a figure, not a budget)")
    print("%4s %10s %10s %7s %16s %16s %15s %15s %9s" % (
        "conc", "req/s bdr", "req/s oai", "ratio", "p50 ms bdr/oai", "p99 ms bdr/oai",
        "cpu us/call bdr", "cpu us/call oai", "+cpu us"))
    for c in concs:
        b, o = sel("keyhold_bedrock", c), sel("keyhold", c)
        if not b or not o:
            print("%4d  (no keyhold or keyhold_bedrock run with numbers)" % c)
            continue

        def m(rows, key, scale=1.0):
            return med([r[key] / scale if r[key] is not None else None for r in rows])

        brps, orps = m(b, "rps"), m(o, "rps")
        bcpu, ocpu = m(b, "cpu_us_per_req"), m(o, "cpu_us_per_req")
        print("%4d %10.0f %10.0f %7.2f %16s %16s %15s %15s %9s" % (
            c, brps, orps, brps / orps if orps else float("nan"),
            "%.3f / %.3f" % (m(b, "lat_p50_us", 1e3), m(o, "lat_p50_us", 1e3)),
            "%.3f / %.3f" % (m(b, "lat_p99_us", 1e3), m(o, "lat_p99_us", 1e3)),
            fmt(bcpu, "%.1f"), fmt(ocpu, "%.1f"),
            fmt(bcpu - ocpu if bcpu is not None and ocpu is not None else None, "%+.1f")))


def read_rows(path):
    """The results file's JSON lines ([] when there is no file: every run is then NOT TAKEN)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    main()
