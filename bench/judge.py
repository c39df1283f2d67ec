#!/usr/bin/env python3
"""The one judge of every bench script: a run passes only when every budget was measured and met.

A script records each budget as one line of its budgets file, tab-separated:

    name <TAB> measured value <TAB> comparison (<=, >=, ==) <TAB> limit <TAB> unit <TAB> detail

An empty (or non-numeric, NaN) measured value is a figure NOT TAKEN: an unreadable RSS, a wrk
run that printed no numbers, an export whose row count could not be checked. `judge.py FILE`
prints the budget table, then one RESULT line and a line per budget NOT MET or NOT TAKEN, and
exits 1 when there is any such budget, or when the file holds no budget at all (a run that
judged nothing proves nothing); 0 only when every budget is met.

From Python (the scripts' summaries): `from judge import Budgets`, `b = Budgets(path)`,
`b.check(name, value, op, limit, unit, detail)`, `b.not_taken(name, why)`.
From the shell: `budget NAME VALUE OP LIMIT [UNIT] [DETAIL]` and `judge` in lib.sh.
"""
import math
import sys

OPS = {
    "<=": lambda v, lim: v <= lim,
    ">=": lambda v, lim: v >= lim,
    "==": lambda v, lim: v == lim,
}


def _clean(s):
    return " ".join(str(s).split()) if s is not None else ""


def number(s):
    """The float in s, or None when s is empty, not a number, NaN or infinite."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class Budgets:
    """Appends budget lines to a budgets file (see the module doc)."""

    def __init__(self, path):
        self.path = path

    def _add(self, name, value, op, limit, unit, detail):
        fields = [_clean(x) for x in (name, value, op, limit, unit, detail)]
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("\t".join(fields) + "\n")

    def check(self, name, value, op, limit, unit="", detail="", fmt="%.2f"):
        """A measured figure against its limit; value None (or NaN) = NOT TAKEN."""
        if op not in OPS:
            raise ValueError("unknown comparison %r" % op)
        v = number(value)
        self._add(name, "" if v is None else fmt % v, op, limit, unit, detail)

    def not_taken(self, name, why):
        """A figure that was not taken (why says which and why)."""
        self._add(name, "", "", "", "", why)


def _measured(value, unit):
    return ("%s %s" % (value, unit)).strip() if value else "-"


def _limit(op, limit, unit):
    return ("%s %s %s" % (op, limit, unit)).strip() if op else "-"


def verdict(value, op, limit):
    """'met', 'NOT MET' or 'NOT TAKEN' for one line's fields (strings)."""
    v, lim = number(value), number(limit)
    if v is None or lim is None or op not in OPS:
        return "NOT TAKEN"
    return "met" if OPS[op](v, lim) else "NOT MET"


def judge(path, out=sys.stdout):
    """Prints the verdicts of the budgets file at path; returns the exit code (0 all met, 1 not)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
    except OSError as e:
        lines = []
        print("budgets file %s unreadable: %s" % (path, e), file=out)
    rows = []
    for l in lines:
        p = (l.split("\t") + [""] * 6)[:6]
        rows.append(p + [verdict(p[1], p[2], p[3])])
    print("\nbudgets", file=out)
    print("%-48s %12s %12s  %-9s %s" % ("budget", "measured", "limit", "verdict", "detail"), file=out)
    for name, value, op, limit, unit, detail, v in rows:
        print("%-48s %12s %12s  %-9s %s" % (name, _measured(value, unit), _limit(op, limit, unit), v, detail),
              file=out)
    bad = [r for r in rows if r[6] != "met"]
    n_met = len(rows) - len(bad)
    n_not_met = sum(1 for r in rows if r[6] == "NOT MET")
    n_not_taken = sum(1 for r in rows if r[6] == "NOT TAKEN")
    if not rows:
        print("RESULT: FAIL, no budget was judged (%s)" % path, file=out)
        return 1
    print("RESULT: %s, %d budgets: %d met, %d NOT MET, %d NOT TAKEN" % (
        "PASS" if not bad else "FAIL", len(rows), n_met, n_not_met, n_not_taken), file=out)
    for name, value, op, limit, unit, detail, v in bad:
        if v == "NOT MET":
            print("  NOT MET: %s: measured %s, limit %s%s" % (
                name, _measured(value, unit), _limit(op, limit, unit), " (%s)" % detail if detail else ""), file=out)
        else:
            why = detail or ("measured %r is not a number" % value if value else "no figure")
            print("  NOT TAKEN: %s: %s" % (name, why), file=out)
    return 1 if bad else 0


def wrk_row(d, cpu0="", cpu1="", hz=100):
    """One run's figures from the WRKJSON line of bench/wrk.lua (a dict) and the server's
    utime+stime ticks before and after (strings, empty when unreadable).

    errors = socket errors (connect, read, write, timeout); non2xx = every answer outside 2xx
    (wrk's own err_status, statuses > 399, is a part of it); cpu_us_per_req and non2xx are
    None when not taken. A run that counted no request gets "missing" instead of figures."""
    d = dict(d)
    if d.get("requests", 0) <= 0 or d.get("duration_us", 0) <= 0:
        d["missing"] = "wrk counted no request (%s requests in %s us)" % (d.get("requests"), d.get("duration_us"))
        return d
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    d["errors"] = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"]
    if "non2xx" not in d or d.get("threads", 0) < 1:
        d["non2xx"] = None
    a, b = number(cpu0), number(cpu1)
    d["cpu_us_per_req"] = (b - a) * 1e6 / hz / d["requests"] if a is not None and b is not None and b >= a else None
    return d


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: judge.py BUDGETS_FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(judge(sys.argv[1]))
