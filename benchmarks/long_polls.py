"""What open long-polls and SSE streams cost everyone else's commits, against a real `multimail serve`.

The row: "1 000 open long-polls / SSE streams vs an idle server: each commit costs <= 2x idle;
RSS <= 300 MB". A commit here is one `send_email` round trip (an autonomous mailbox, a new
message each time, the client on a kept-alive connection), timed on an idle server and then
while the server holds, in turn:

  1. N long-polls: `list_pending` with `wait` on a held message, spread over agent keys (a key
     may hold at most 50), each polling again when its wait runs out, as an agent would;
  2. N SSE streams: the dashboard's live queue (`/events/queue`, sse-starlette), spread over
     signed-in approvers (their waits count against the same caps);
  3. both at once (2 N open).

Before each measurement the server's own gauge (`multimail_long_polls_open` on GET /metrics)
must show every one parked. It prints p50/p99 of the round trip and the p50 ratio to idle per
phase (the baseline: an idle round before and one after, together), the server's RSS (process
and children) idle and at its peak in each phase, and, as a functional check, that one commit
(approving the held message) answered every open long-poll and pushed an update down every
stream, and how long the last of them took.

Before the shared version check each commit re-ran every waiter's read, and 150 waiters made
each write 10-50x slower; now the ratio should stay near 1.

    python benchmarks/long_polls.py [--long-polls 1000] [--streams 1000] [--sends 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import requests
from _harness import header, multimail, percentile, post, rss_mb

PER_KEY = 40  # under the default cap of 50 open long-polls per key
WAIT = 60  # seconds a long-poll parks (the API's maximum)
HELD = 1  # held messages each phase's long-polls wait on: one approval (one commit) answers them all
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SESSION_COOKIE = "mm_dashboard"
GAUGE = re.compile(r"^multimail_long_polls_open\s+([0-9.e+]+)$", re.M)


@dataclass
class Counts:
    """What the client side saw; one instance per phase's long-polls or for all streams."""

    answered: int = 0  # long-polls answered with the message decided
    reissued: int = 0  # long-polls whose wait ran out (polled again)
    first_events: int = 0  # streams that got their first queue event (open)
    updates: int = 0  # streams that got a queue event after their first
    errors: list[str] = field(default_factory=list)
    last_at: float = 0.0  # when the last answer/update arrived


class Loop:
    """An asyncio loop on a thread of its own holding the parked connections (httpx), so the
    main thread's timed sends share nothing with them but the machine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client: httpx.AsyncClient = self.run(self._client())

    async def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
                                 timeout=httpx.Timeout(10.0, read=None))

    async def _cancel_all(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def spawn(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.run(self._cancel_all())
        self.run(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def long_poll(client: httpx.AsyncClient, base: str, key: str, message_id: str, counts: Counts, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            r = await client.get(f"{base}/v1/list_pending", params={"message_id": message_id, "wait": WAIT},
                                 headers={"Authorization": f"Bearer {key}"}, timeout=WAIT + 30)
        except httpx.HTTPError as exc:
            counts.errors.append(f"long-poll: {type(exc).__name__}: {exc}")
            return
        if r.status_code != 200:
            counts.errors.append(f"long-poll: {r.status_code} {r.text[:200]}")
            return
        if r.json()["messages"][0]["status"] != "pending":
            counts.answered += 1
            counts.last_at = time.monotonic()
            return
        counts.reissued += 1


async def stream(client: httpx.AsyncClient, base: str, cookie: str, counts: Counts, stop: asyncio.Event) -> None:
    seen = 0
    try:
        async with client.stream("GET", f"{base}/events/queue", cookies={SESSION_COOKIE: cookie}) as r:
            if r.status_code != 200:
                counts.errors.append(f"stream: {r.status_code}")
                return
            async for line in r.aiter_lines():
                if stop.is_set():
                    return
                if line.startswith("event:") and line.split(":", 1)[1].strip() == "queue":
                    seen += 1
                    if seen == 1:
                        counts.first_events += 1
                    elif seen == 2:  # its first update (one commit may bring more)
                        counts.updates += 1
                        counts.last_at = time.monotonic()
                elif line.startswith("event:") and "signed_out" in line:
                    counts.errors.append("stream: signed out")
                    return
    except httpx.HTTPError as exc:
        if not stop.is_set():
            counts.errors.append(f"stream: {type(exc).__name__}: {exc}")


def sign_in(base: str, key: str) -> str:
    """A dashboard session cookie for `key`, through the sign-in form as a browser gets one."""
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=30)
    token = CSRF.search(form.text)
    if token is None:
        raise SystemExit("no sign-in form at /login")
    r = http.post(f"{base}/login", data={"csrf": token.group(1), "api_key": key, "next": "/"}, allow_redirects=False, timeout=30)
    if r.status_code != 303 or SESSION_COOKIE not in http.cookies:
        raise SystemExit(f"dashboard sign-in failed: {r.status_code} {r.text[:300]}")
    return http.cookies[SESSION_COOKIE]


def open_gauge(base: str, admin: str) -> int:
    text = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {admin}"}, timeout=30).text
    m = GAUGE.search(text)
    if m is None:
        raise SystemExit("GET /metrics has no multimail_long_polls_open")
    return int(float(m.group(1)))


def wait_until(what: str, check: Callable[[], bool], errors: Callable[[], list[str]], timeout: float = 180,
               *, fatal: bool = True) -> float:
    """Seconds until `check()`; a client-side error or the timeout ends the run (`fatal`) or is
    printed as a finding (the wake-up checks: the figures before it still stand)."""
    start = time.monotonic()
    while not check():
        problem = f"{what}: {len(errors())} failed, e.g. {errors()[:3]}" if errors() else None
        if problem is None and time.monotonic() - start > timeout:
            problem = f"{what}: not within {timeout:g} s"
        if problem is not None:
            if fatal:
                raise SystemExit(problem)
            print("  FAILED " + problem, flush=True)
            return time.monotonic() - start
        time.sleep(0.2)
    return time.monotonic() - start


class RssPeak:
    """The server's RSS sampled every 0.25 s; `take()` gives the peak since the last take."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, rss_mb(self.pid))

    def take(self) -> float:
        peak, self.peak = max(self.peak, rss_mb(self.pid)), 0.0
        return peak

    def stop(self) -> None:
        self._stop.set()


def send_round_trips(base: str, key: str, sender: str, n: int) -> list[float]:
    """Seconds per `send_email` round trip, one after another on one kept-alive connection."""
    http = requests.Session()
    out = []
    for i in range(n):
        start = time.perf_counter()
        r = http.post(f"{base}/v1/send_email", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                      json={"from": sender, "to": f"r{i}@partner.test", "subject": f"bench {i}", "body": "b"})
        elapsed = time.perf_counter() - start
        if r.status_code >= 400:
            raise SystemExit(f"send_email: {r.status_code} {r.text[:300]}")
        out.append(elapsed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long-polls", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--sends", type=int, default=300, help="timed send_email round trips per phase")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    n_lp, n_sse = args.long_polls, args.streams
    # The default per-process cap (2 000) is what the mixed phase needs at the default sizes.
    env = {"MULTIMAIL_LONG_POLL_MAX_TOTAL": str(max(2000, n_lp + n_sse + 10))}
    header(f"{n_lp} open long-polls / {n_sse} SSE streams vs an idle server", args.database_url)
    print(f"  load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with multimail(args.database_url, env=env) as server:
        base, admin = server.base, server.admin_key
        tag = uuid.uuid4().hex[:8]
        gated, sender = f"held-{tag}@acme.test", f"sender-{tag}@acme.test"
        post(server, "create_mailbox", {"address": gated, "oversight_mode": "gated_send"})
        post(server, "create_mailbox", {"address": sender, "oversight_mode": "autonomous"})
        sender_key = post(server, "create_api_key", {"role": "agent", "mailboxes": [sender]})["api_key"]
        # Everything the streams' queue will show is held before they open; each phase's
        # long-polls wait on their own ten, approved at the end of the phase.
        held = [[post(server, "send_email", {"from": gated, "to": "x@partner.test", "subject": f"p{p} h{i}", "body": "b"})["message_id"]
                 for i in range(HELD)] for p in range(2)]
        agents = [post(server, "create_api_key", {"role": "agent", "mailboxes": [gated]})["api_key"]
                  for _ in range(-(-n_lp // PER_KEY))]
        approver_keys = [post(server, "create_api_key", {"role": "approver", "mailboxes": [gated]})["api_key"]
                         for _ in range(-(-n_sse // PER_KEY))]
        cookies = [sign_in(base, key) for key in approver_keys]
        rss = RssPeak(server.proc.pid)
        loop = Loop()
        results: list[tuple[str, list[float], float]] = []

        def measure(name: str) -> None:
            times = send_round_trips(base, sender_key, sender, args.sends)
            results.append((name, times, rss.take()))
            p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
            print(f"  {name:<40} send_email p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  RSS peak {results[-1][2]:6.1f} MB", flush=True)

        def open_long_polls(phase: int, stop: asyncio.Event) -> Counts:
            counts = Counts()
            for i in range(n_lp):
                loop.spawn(long_poll(loop.client, base, agents[i // PER_KEY], held[phase][i % HELD], counts, stop))
            return counts

        def approve(phase: int) -> float:
            started = time.monotonic()
            for message_id in held[phase]:
                post(server, "approve_message", {"message_id": message_id})
            return started

        try:
            send_round_trips(base, sender_key, sender, 100)  # warm up
            rss.take()
            idle_rss = rss_mb(server.proc.pid)
            measure("idle")

            # 1. long-polls alone
            stop_lp = loop.run(_event())
            lp = open_long_polls(0, stop_lp)
            took = wait_until(f"{n_lp} long-polls parked", lambda: open_gauge(base, admin) >= n_lp, lambda: lp.errors)
            print(f"  {n_lp} long-polls parked in {took:.1f} s", flush=True)
            measure(f"{n_lp} open long-polls")
            started = approve(0)
            wait_until("every long-poll answered", lambda: lp.answered == n_lp, lambda: lp.errors, timeout=900, fatal=False)
            print(f"  one approval answered all {lp.answered} long-polls; the last {(lp.last_at - started) * 1000:.0f} ms "
                  f"after it was sent ({lp.reissued} polled again after {WAIT} s)", flush=True)

            # 2. SSE streams alone
            stop_sse = loop.run(_event())
            sse = Counts()
            for i in range(n_sse):
                loop.spawn(stream(loop.client, base, cookies[i // PER_KEY], sse, stop_sse))
            took = wait_until(f"{n_sse} SSE streams parked",
                              lambda: sse.first_events == n_sse and open_gauge(base, admin) >= n_sse, lambda: sse.errors,
                              timeout=900)
            print(f"  {n_sse} SSE streams open and parked in {took:.1f} s", flush=True)
            measure(f"{n_sse} open SSE streams")

            # 3. both
            stop_lp2 = loop.run(_event())
            lp2 = open_long_polls(1, stop_lp2)
            took = wait_until(f"{n_lp} long-polls + {n_sse} streams parked",
                              lambda: open_gauge(base, admin) >= n_lp + n_sse, lambda: lp2.errors + sse.errors)
            print(f"  {n_lp} more long-polls parked beside the streams in {took:.1f} s", flush=True)
            measure(f"{n_lp} long-polls + {n_sse} SSE streams")
            started = approve(1)
            wait_until("every long-poll answered and every stream updated",
                       lambda: lp2.answered + len(lp2.errors) == n_lp and sse.updates + len(sse.errors) >= n_sse,
                       lambda: [], timeout=900, fatal=False)
            for e in lp2.errors + sse.errors:
                print(f"  FAILED {e}", flush=True)
            if lp.errors or lp2.errors or sse.errors:
                print("  the server's log, its last errors:\n" + _errors_in(server.log()), flush=True)
            last = max(lp2.last_at, sse.last_at)
            print(f"  one approval answered all {lp2.answered} long-polls and updated all {n_sse} streams; the last "
                  f"{(last - started) * 1000:.0f} ms after it was sent ({lp2.reissued} long-polls polled again)", flush=True)
            for ev in (stop_lp, stop_sse, stop_lp2):
                loop.loop.call_soon_threadsafe(ev.set)
            loop.run(loop._cancel_all())  # the streams closed
            wait_until("every wait closed", lambda: open_gauge(base, admin) == 0, lambda: [])
            measure("idle again (all closed)")
        except BaseException:
            print("  the server's log, its last errors:\n" + _errors_in(server.log()), flush=True)
            raise
        finally:
            rss.stop()
            loop.close()

    idle = results[0][1] + results[-1][1]  # both idle rounds: the baseline
    print(f"\n  row: {n_lp} open long-polls / {n_sse} SSE streams vs idle — each commit <= 2x idle; RSS <= 300 MB")
    print(f"  {'':<40} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10} {'p99 ratio':>10} {'RSS MB':>8}")
    for name, times, peak in results:
        p50, p99 = percentile(times, 50), percentile(times, 99)
        print(f"  {name:<40} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / percentile(idle, 50):9.2f}x "
              f"{p99 / percentile(idle, 99):9.2f}x {peak:8.1f}")
    # The row is N of either kind (phases 1 and 2); the mixed phase holds 2 N, past it.
    row_phases = results[1:3]
    worst = max(percentile(t, 50) / percentile(idle, 50) for _, t, _ in row_phases)
    worst99 = max(percentile(t, 99) / percentile(idle, 99) for _, t, _ in row_phases)
    peak = max(p for _, _, p in row_phases)
    print(f"  ratios against both idle rounds together (p50 {percentile(idle, 50) * 1000:.1f} ms, p99 {percentile(idle, 99) * 1000:.1f} ms)")
    print(f"  the row (phases 1 and 2): worst ratio p50 {worst:.2f}x ({'meets' if worst <= 2 else 'misses'} <= 2x), "
          f"p99 {worst99:.2f}x ({'meets' if worst99 <= 2 else 'misses'}); RSS idle {idle_rss:.1f} MB, peak {peak:.1f} MB "
          f"({'meets' if peak <= 300 else 'misses'} <= 300 MB); with both open: p50 "
          f"{percentile(results[3][1], 50) / percentile(idle, 50):.2f}x, {results[3][2]:.1f} MB")
    fastest = min(percentile(results[0][1], 50), percentile(results[-1][1], 50))
    print(f"  (against the faster idle round alone, p50 {fastest * 1000:.1f} ms: worst p50 ratio "
          f"{max(percentile(t, 50) for _, t, _ in row_phases) / fastest:.2f}x; the rounds' spread is the machine's noise)")
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


def _errors_in(log: str, limit: int = 4000) -> str:
    lines = [line for line in log.splitlines() if re.search(r"error|exception|traceback|warning", line, re.I)]
    return "\n".join(lines)[-limit:] or "(none)"


async def _event() -> asyncio.Event:
    return asyncio.Event()  # made on the loop's thread, for the coroutines there


if __name__ == "__main__":
    main()
