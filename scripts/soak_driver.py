#!/usr/bin/env python3
"""Mixed load for scripts/soak.sh: reads, full logins and staff writes against one portal server,
with the server's resident memory sampled every --sample seconds from /proc/<pid>/status.

Standard library only. Prints one line per sample and a JSON summary at the end; exits 1 when a
request got a 5xx or an unexpected status, or when RSS after the warm-up leaves a band of
--rss-band around its first post-warm-up sample.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
from datetime import datetime, timezone


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        """One request on a kept-alive connection; returns (status, parsed body, headers)."""
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None), response
            except (http.client.HTTPException, ConnectionError, OSError):
                # The server closed an idle keep-alive connection; one fresh try.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_kind = {}
        self.server_errors = []
        self.unexpected = []

    def record(self, kind, status, expected, body):
        with self.lock:
            self.requests += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if status >= 500:
                self.server_errors.append((kind, status, body))
            elif status not in expected:
                self.unexpected.append((kind, status, body))


def now_rfc3339():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Worker(threading.Thread):
    def __init__(self, index, args, stats, stop):
        super().__init__(daemon=True)
        self.index, self.args, self.stats, self.stop = index, args, stats, stop
        self.client = Client(args.host, args.port)
        self.random = random.Random(index)
        self.session = None

    def call(self, kind, method, path, body=None, headers=None, expected=(200,)):
        status, parsed, response = self.client.call(method, path, body, headers)
        self.stats.record(kind, status, expected, parsed)
        return status, parsed, response

    def owner(self):
        return {"Cookie": f"psession={self.args.owner_session}"}

    def login(self):
        """The real flow; each worker rotates over its own identities, some of them new sign-ups."""
        identity = str(self.random.choice(range(1, self.args.identities + 1)) * 100 + self.index)
        self.call("login", "POST", "/v1/authentication/request",
                  {"platform": "discord", "platform_user_id": identity})
        _, fetched, _ = self.call(
            "login", "POST", "/v1/authentication/bot/login-code",
            {"platform": "discord", "platform_user_id": identity, "platform_username": f"soak{identity}"},
            {"X-API-Key": self.args.bot_key})
        status, _, response = self.call("login", "POST", "/v1/authentication/verify", {"code": fetched["code"]})
        if self.session:
            self.call("logout", "POST", "/v1/authentication/logout",
                      headers={"Cookie": f"psession={self.session}"})
        cookie = response.getheader("Set-Cookie") or ""
        self.session = cookie.split(";")[0].split("=", 1)[1] if status == 200 else None

    def read(self):
        cookie = {"Cookie": f"psession={self.session}"} if self.session else {}
        path = self.random.choice([
            "/health", "/v1/users/me", "/v1/users/search?q=soak", "/v1/bots", "/v1/statistics/users",
            "/v1/statistics/app", f"/v1/users/{self.args.target}", "/v1/users/me/sessions",
        ])
        expected = (200, 401) if path.startswith("/v1/users/me") and not self.session else (200,)
        self.call("read", "GET", path, headers=cookie, expected=expected)

    def staff_write(self):
        target = self.args.target
        choice = self.random.randrange(6)
        if choice == 0:
            self.call("staff", "POST", f"/v1/admin/users/{target}/warn", {"reason": "soak"}, self.owner())
        elif choice == 1:
            self.call("staff", "POST", f"/v1/admin/users/{target}/timeout", {"duration": 600, "reason": "soak"},
                      self.owner())
        elif choice == 2:
            self.call("staff", "POST", f"/v1/admin/users/{target}/untimeout", {"reason": "soak"}, self.owner(),
                      expected=(200, 409))
        elif choice == 3:
            self.call("staff", "POST", "/v1/admin/subscriptions/grant",
                      {"user_id": target, "tier": "PREMIUM", "duration_days": 30, "reason": "soak"}, self.owner(),
                      expected=(200, 409))
        elif choice == 4:
            self.call("staff", "POST", "/v1/admin/subscriptions/revoke", {"user_id": target, "reason": "soak"},
                      self.owner(), expected=(200, 409))
        else:
            self.call("bot", "POST", "/v1/bot/batch",
                      {"commands": [{"command": f"soak{self.index}", "count": 1, "timestamp": now_rfc3339()}]},
                      {"X-API-Key": self.args.bot_key})

    def run(self):
        pause = self.args.workers / self.args.rate
        while not self.stop.is_set():
            started = time.monotonic()
            roll = self.random.random()
            if roll < 0.08 or self.session is None:
                self.login()
            elif roll < 0.30:
                self.staff_write()
            else:
                self.read()
            time.sleep(max(0.0, pause - (time.monotonic() - started)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--bot-key", required=True)
    parser.add_argument("--owner-session", required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=150, help="requests per second, all workers")
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--rss-band", type=float, default=0.10)
    args = parser.parse_args()

    stats, stop = Stats(), threading.Event()
    workers = [Worker(i, args, stats, stop) for i in range(args.workers)]
    for worker in workers:
        worker.start()
    samples = []
    started = time.monotonic()
    crashed = False
    while True:
        elapsed = time.monotonic() - started
        with stats.lock:
            requests, errors = stats.requests, len(stats.server_errors)
        samples.append({"t": round(elapsed), "rss_kb": rss_kb(args.pid), "requests": requests, "server_errors": errors})
        print(f"t={elapsed:6.0f}s rss={samples[-1]['rss_kb'] / 1024:7.1f} MiB requests={requests} 5xx={errors}",
              flush=True)
        crashed = any(not w.is_alive() for w in workers)
        if elapsed >= args.duration or crashed:
            break
        time.sleep(max(0.0, args.sample - ((time.monotonic() - started) % args.sample)))
    stop.set()
    for worker in workers:
        worker.join(timeout=30)

    after = [s for s in samples if s["t"] >= args.warmup]
    reference = after[0]["rss_kb"] if after else samples[-1]["rss_kb"]
    low = min(s["rss_kb"] for s in after) if after else reference
    high = max(s["rss_kb"] for s in after) if after else reference
    drift = max(high - reference, reference - low) / reference
    wall = samples[-1]["t"]
    summary = {
        "duration_s": wall,
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / max(wall, 1), 1),
        "by_kind": stats.by_kind,
        "server_errors": len(stats.server_errors),
        "unexpected_statuses": len(stats.unexpected),
        "rss_mib_at_warmup_end": round(reference / 1024, 1),
        "rss_mib_min_after_warmup": round(low / 1024, 1),
        "rss_mib_max_after_warmup": round(high / 1024, 1),
        "rss_mib_last": round(samples[-1]["rss_kb"] / 1024, 1),
        "rss_drift_after_warmup": round(drift, 4),
    }
    print(json.dumps({"summary": summary, "samples": samples}, indent=1))
    for kind, status, body in (stats.server_errors + stats.unexpected)[:10]:
        print(f"soak: {kind} answered {status}: {body}", file=sys.stderr)
    failed = stats.server_errors or stats.unexpected or drift > args.rss_band or crashed
    if crashed:
        print("soak: a load worker died (see its traceback above)", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
