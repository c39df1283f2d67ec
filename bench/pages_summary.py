#!/usr/bin/env python3
"""pages.sh's summary: the page and storm tables from results.jsonl and storm-c<N>.txt, and every
SPEC §12 signed-in page budget recorded in the budgets file for bench/judge.py. Missing runs,
missing readings and a storm without figures are recorded NOT TAKEN, never skipped.

    pages_summary.py --results R --budgets B --run DIR --reps 3 --conns 32 --storm-conns 20
        --storm-page-conns 4
"""
import argparse
import json
import statistics as st

from judge import Budgets

TARGETS = ("pagebench", "kh_integrations", "kh_keys")
PAGES = (("kh_integrations", "/admin/integrations"), ("kh_keys", "/w/<slug>/settings/keys"))


def med(v):
    v = [x for x in v if x is not None]
    return st.median(v) if v else None


def spread(v):
    m = med(v)
    return 100.0 * (max(v) - min(v)) / m if v and m else 0.0


def fmt(v, f):
    return f % v if v is not None else "-"


def read_rows(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def read_storm(path):
    """(the STORM line, the STORMJSON dict) of one storm's output; (why, None) when missing."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return "no storm output (%s)" % path, None
    human = next((l for l in text.splitlines() if l.startswith("STORM ")), "")
    for l in text.splitlines():
        if l.startswith("STORMJSON "):
            try:
                return human, json.loads(l[len("STORMJSON "):])
            except ValueError:
                break
    tail = " ".join(text.strip().splitlines()[-2:])[:200]
    return "the storm printed no figures: %s" % (tail or "empty output"), None


def main():
    ap = argparse.ArgumentParser()
    for a in ("results", "budgets", "run", "reps", "conns", "storm-conns", "storm-page-conns"):
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args()
    b = Budgets(a.budgets)
    reps, conns = int(a.reps), int(a.conns)
    storm_n = int(a.storm_conns)
    storm_concs = sorted({int(a.storm_page_conns), conns})
    rows = read_rows(a.results)

    # Every run that should have numbers has them, or is NOT TAKEN by name.
    expected = [("pages", rep, t, conns) for rep in range(1, reps + 1) for t in TARGETS]
    expected += [(label, 1, "kh_keys", c) for c in storm_concs for label in ("calm", "storm")]
    have = {(r["label"], r["rep"], r["target"], r["conc"]): r for r in rows}
    for key in expected:
        r = have.get(key)
        name = "wrk run %s round %d %s c=%d" % key
        if r is None:
            b.not_taken(name, "no result recorded")
        elif "missing" in r:
            b.not_taken(name, r["missing"])
    good = [r for r in rows if "missing" not in r]
    pages = [r for r in good if r["label"] == "pages"]

    print("\nsigned-in pages, wrk -t1 -c%d, median of %d rounds; spread = (max-min)/median" % (conns, reps))
    print("%-16s %9s %6s %8s %8s %6s %9s %7s %8s" % (
        "target", "req/s", "sprd%", "p50 ms", "p99 ms", "sprd%", "cpu us/r", "errors", "non-2xx"))
    for t in TARGETS:
        s = [r for r in pages if r["target"] == t]
        if not s:
            print("%-16s (no run with numbers)" % t)
            continue
        rps = [r["rps"] for r in s]
        p99 = [r["lat_p99_us"] / 1e3 for r in s]
        n2 = [r["non2xx"] for r in s]
        print("%-16s %9.0f %6.1f %8.3f %8.3f %6.1f %9s %7d %8s" % (
            t, med(rps), spread(rps), med([r["lat_p50_us"] / 1e3 for r in s]), med(p99), spread(p99),
            fmt(med([r["cpu_us_per_req"] for r in s]), "%.1f"), sum(r["errors"] for r in s),
            "?" if None in n2 else sum(n2)))
    print("\nsign-in storm (%d clients) against /w/<slug>/settings/keys" % storm_n)
    for r in good:
        if r["label"] in ("calm", "storm"):
            print("  %-5s c=%-3d %8.0f req/s  p50 %7.3f ms  p99 %8.3f ms  errors %d  non-2xx %s" % (
                r["label"], r["conc"], r["rps"], r["lat_p50_us"] / 1e3, r["lat_p99_us"] / 1e3, r["errors"],
                "?" if r["non2xx"] is None else r["non2xx"]))
    storms = {c: read_storm("%s/storm-c%d.txt" % (a.run, c)) for c in storm_concs}
    for c, (human, _) in storms.items():
        print("  c=%d: %s" % (c, human))

    # Every answer a 2xx with no socket error, on every target, over all its runs (SPEC §12:
    # "every answer a 200, a redirect to /login is a failure").
    for t in TARGETS:
        name = "errors + non-2xx, %s (all runs)" % t
        s = [r for r in good if r["target"] == t]
        n2 = [r["non2xx"] for r in s]
        if not s:
            b.not_taken(name, "no run of %s has numbers" % t)
        elif None in n2:
            b.not_taken(name, "non-2xx not counted in %d run(s)" % n2.count(None))
        else:
            errs = sum(r["errors"] for r in s)
            login = sum(r.get("login_redirects") or 0 for r in s)
            b.check(name, errs + sum(n2), "<=", 0, "", "socket errors %d, non-2xx %d (%d redirects to /login), over %d runs" % (
                errs, sum(n2), login, len(s)), fmt="%d")

    pb = {r["rep"]: r["rps"] for r in pages if r["target"] == "pagebench"}
    for t, page in PAGES:
        s = {r["rep"]: r for r in pages if r["target"] == t}
        name = "%s req/s / pagebench @%d" % (page, conns)
        if not s or not pb:
            b.not_taken(name, "no %s or pagebench run has numbers" % page)
        else:
            ratios = [s[k]["rps"] / pb[k] for k in sorted(s) if k in pb]
            kh_rps = med([x["rps"] for x in s.values()])
            b.check(name, kh_rps / med(pb.values()), ">=", "0.40", "", "rounds %s; %.0f vs %.0f req/s" % (
                [round(x, 2) for x in ratios], kh_rps, med(pb.values())))
        name = "%s p99 @%d" % (page, conns)
        if not s:
            b.not_taken(name, "no run of %s has numbers" % page)
        else:
            p99 = [x["lat_p99_us"] / 1e3 for x in s.values()]
            b.check(name, med(p99), "<=", 10, "ms", "rounds %s" % [round(x, 2) for x in p99])

    for c in storm_concs:
        human, storm = storms[c]
        name = "sign-ins failed during the storm, c=%d" % c
        if storm is None:
            b.not_taken(name, human)
        elif storm["ok"] <= 0:
            b.not_taken(name, "no sign-in succeeded: no argon2 work was done (%s)" % human)
        else:
            b.check(name, storm["failed"], "<=", 0, "", "%s (%d clients)" % (human, storm["clients"]), fmt="%d")
        r = have.get(("storm", 1, "kh_keys", c))
        name = "page p99 during %d sign-ins, c=%d" % (storm_n, c)
        if r is None or "missing" in r:
            b.not_taken(name, "the page run during the storm has no numbers")
        elif storm is None or storm["ok"] <= 0:
            b.not_taken(name, "no storm ran beside it")
        else:
            calm = have.get(("calm", 1, "kh_keys", c)) or {}
            calm_p99 = calm["lat_p99_us"] / 1e3 if "lat_p99_us" in calm else None
            b.check(name, r["lat_p99_us"] / 1e3, "<=", 50, "ms", "calm p99 %s ms" % fmt(calm_p99, "%.2f"))


if __name__ == "__main__":
    main()
