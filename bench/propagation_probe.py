#!/usr/bin/env python3
"""propagation.sh's probe: signs in to A as the admin, then ROUNDS times turns BYOK for OpenAI
off and on again through A's form, and for each change times from sending A's POST to
receiving the first answer from B that obeys it (B is called back to back on one kept-alive
connection; x-keyhold-key-source tells platform from workspace). Records the budgets for
bench/judge.py: p99 <= 100 ms, every change obeyed, every probe answer a 200.

    propagation_probe.py --a URL --b URL --email E --password P --token T --rounds N
        --gap S --limit S --budgets FILE
Only 127.0.0.1 URLs are accepted.
"""
import argparse
import http.client
import http.cookiejar
import re
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

from judge import Budgets


class Prober(threading.Thread):
    """Calls B back to back; keeps (sent, received, status, source) of every answer."""

    def __init__(self, b, token):
        super().__init__(daemon=True)
        u = urllib.parse.urlsplit(b)
        self.host, self.port, self.token = u.hostname, u.port, token
        self.answers, self.stop, self.lock = [], False, threading.Lock()

    def run(self):
        body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":4}'
        conn = None
        while not self.stop:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                sent = time.monotonic()
                conn.request("POST", "/v1/chat/completions", body, {
                    "Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                got = time.monotonic()
                with self.lock:
                    self.answers.append((sent, got, r.status, r.getheader("x-keyhold-key-source", "")))
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.answers.append((time.monotonic(), time.monotonic(), 0, ""))
                conn = None

    def first_after(self, t0, source, limit):
        """Receive time of the first answer sent after t0 with this key source, or None."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                for sent, got, status, src in self.answers:
                    if sent >= t0 and status == 200 and src == source:
                        return got
            time.sleep(0.001)
        return None


def admin(a, email, password):
    """An opener signed in to A, and a function giving the current CSRF token."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def csrf(path):
        html = op.open(a + path, timeout=10).read().decode()
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        if not m:
            sys.exit("no csrf_token on " + path)
        return m.group(1)

    def post(path, fields):
        data = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(a + path, data=data, headers={"Origin": a})
        try:
            return op.open(req, timeout=10).status
        except urllib.error.HTTPError as e:
            return e.code

    token = csrf("/login")
    status = post("/login", {"email": email, "password": password, "csrf_token": token})
    if status != 303:
        sys.exit("sign-in to A answered %s" % status)
    return csrf, post


def main():
    ap = argparse.ArgumentParser()
    for name in ("a", "b", "email", "password", "token", "rounds", "gap", "limit", "budgets"):
        ap.add_argument("--" + name, required=True)
    o = ap.parse_args()
    for url in (o.a, o.b):
        if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
            sys.exit("only 127.0.0.1 targets: " + url)
    b = Budgets(o.budgets)
    csrf, post = admin(o.a, o.email, o.password)
    prober = Prober(o.b, o.token)
    prober.start()
    times, missed, posts = [], [], []
    for r in range(int(o.rounds)):
        for byok_on in (False, True):
            fields = {"enabled": "on", "failure_policy": "fail"}
            fields.update({"byok_enabled": "on"} if byok_on else {"confirm": "yes"})
            fields["csrf_token"] = csrf("/admin/integrations/openai")
            t0 = time.monotonic()
            status = post("/admin/integrations/openai", fields)
            posts.append((time.monotonic() - t0) * 1e3)
            if status != 303:
                sys.exit("BYOK %s through A answered %s" % ("on" if byok_on else "off", status))
            want = "workspace" if byok_on else "platform"
            got = prober.first_after(t0, want, float(o.limit))
            what = "round %d BYOK %s" % (r + 1, "on" if byok_on else "off")
            if got is None:
                missed.append(what)
            else:
                times.append((got - t0) * 1e3)
            time.sleep(float(o.gap))
    prober.stop = True
    prober.join(timeout=15)
    bad = [a for a in prober.answers if a[2] != 200]
    n = len(times)
    if n:
        q = sorted(times)
        p99 = q[min(n - 1, max(0, int(round(0.99 * n + 0.5)) - 1))]
        print("propagation A -> B under load, %d changes: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            n, statistics.median(q), q[int(0.9 * (n - 1))], p99, q[-1]))
        print("each (ms): %s" % [round(x, 1) for x in times])
        print("A's own answer to the form took %.1f ms (median): part of each figure" % statistics.median(posts))
    b.check("propagation p99 (change sent to A -> B obeys)", p99 if n >= 20 else None, "<=", 100, "ms",
            "%d changes%s; p50 %s ms" % (n, "" if n >= 20 else " (fewer than 20: NOT TAKEN)",
                                        "%.1f" % statistics.median(times) if n else "-"), fmt="%.1f")
    b.check("changes not obeyed within the limit", len(missed), "<=", 0, "", "; ".join(missed), fmt="%d")
    b.check("probe answers other than 200", len(bad), "<=", 0, "",
            "%d of %d answers" % (len(bad), len(prober.answers)), fmt="%d")


if __name__ == "__main__":
    main()
