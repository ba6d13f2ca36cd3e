"""Outbound delivery and webhook delivery: MultiMail's workers against plain client loops.

In one run:
  - outbound: N autonomous sends are queued while the server is stopped (through the services
    layer, the rows send_email writes), then `multimail serve` starts with `--smtp-relay` at an
    aiosmtpd sink on loopback (it counts what arrives) and the time until the sink has all N is
    measured. The baseline is a plain aiosmtplib loop sending the same number of messages of the
    same size to the same sink, one after another (one connection each, as the worker does);
  - webhooks: a subscription to a receiver on loopback (benchmarks/_baseline_app.py POST /hook,
    its own process), N events queued the same way, and the time until the receiver got N
    deliveries. The baseline is a plain httpx loop (one client) posting N bodies of the same
    size to the same receiver.

    python benchmarks/delivery.py [--messages 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import threading
import time
import uuid
from email.message import EmailMessage

import aiosmtplib
import httpx
import requests
from _harness import baseline_app, free_port, header, multimail, post, row
from aiosmtpd.controller import Controller

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import sending
from multimail_server.services.context import Context
from multimail_server.store import open_store

BODY = "the quarterly numbers, as promised. " * 20


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.sizes: list[int] = []
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.count += 1
            self.times.append(time.perf_counter())
            self.sizes.append(len(envelope.original_content or envelope.content or b""))
        return "250 OK"


def queue_sends(database_url: str, data_dir: str, box: str, n: int) -> None:
    """N sends through the service send_email calls, into the stopped server's database."""
    ctx = Context(store=open_store(database_url), settings=Settings(data_dir=data_dir))
    try:
        for i in range(n):
            sending.send_email(ctx, principal=Principal.local_operator(), sender=box, to="ana@partner.test",
                               subject=f"report {i}", body=BODY, idempotency_key=uuid.uuid4().hex)
    finally:
        ctx.store.dispose()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc: the server's CPU per message is
    steadier than its throughput on a shared machine."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(pid: int, name: str) -> subprocess.Popen | None:
    """With MULTIMAIL_BENCH_PROFILE=DIR, py-spy records the server (GIL holder) into DIR/name.txt."""
    out = os.environ.get("MULTIMAIL_BENCH_PROFILE")
    if not out:
        return None
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", "600", "-r", "200", "-f", "raw", "--gil",
                             "-o", os.path.join(out, f"{name}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(2)  # py-spy writes its profile on SIGINT
        spy.wait(timeout=60)


def wait_count(get, n: int, timeout: float = 300) -> float:
    start = time.perf_counter()
    while get() < n:
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"only {get()} of {n} arrived in {timeout}s")
        time.sleep(0.01)
    return time.perf_counter() - start


async def plain_smtp(port: int, n: int, size: int) -> None:
    for i in range(n):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "agent@acme.test", "ana@partner.test", f"report {i}"
        msg.set_content("x" * size)
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=port)


def outbound(n: int, database_url: str | None) -> None:
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {"MULTIMAIL_SMTP_RELAY": f"smtp://127.0.0.1:{port}?starttls=optional"}
        with multimail(database_url, env=env) as server:
            box = f"out-{uuid.uuid4().hex[:8]}@acme.test"
            post(server, "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
            server.stop()
            queue_sends(server.database_url, str(server.data_dir), box, n)
            server.restart()
            done0, cpu0, spy = sink.count, cpu_seconds(server.proc.pid), profile(server.proc.pid, "outbound")
            wait_count(lambda: sink.count, n)
            cpu = (cpu_seconds(server.proc.pid) - cpu0) / max(1, n - done0)
            stop_profile(spy)
        # from the first message's arrival to the last's: the worker's rate, not the start-up
        rate = (n - 1) / (sink.times[n - 1] - sink.times[0])
        size = int(sum(sink.sizes) / len(sink.sizes))
        sink.count = 0
        t0 = time.perf_counter()
        asyncio.run(plain_smtp(port, n, size))
        base = n / (time.perf_counter() - t0)
    finally:
        controller.stop()
    row("baseline: plain aiosmtplib loop", base, "msg/s", extra=f"{n} messages of ~{size} bytes")
    row("multimail delivery worker -> relay", rate, "msg/s", baseline=base,
        extra="(first arrival to last)", target=">= 0.7x")
    print(f"  server CPU per relayed message: {cpu * 1000:.1f} ms (after start-up); load {os.getloadavg()[0]:.1f}")


def webhooks(n: int, database_url: str | None) -> None:
    with baseline_app() as receiver:
        count = lambda: requests.get(receiver + "/hook/count", timeout=10).json()  # noqa: E731
        with multimail(database_url, env={"MULTIMAIL_WEBHOOK_ALLOW_PRIVATE": "true"}) as server:
            box = f"hook-{uuid.uuid4().hex[:8]}@acme.test"
            post(server, "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
            post(server, "create_webhook", {"url": receiver + "/hook", "events": ["message.queued"]})
            server.stop()
            queue_sends(server.database_url, str(server.data_dir), box, n)
            server.restart()
            done0, cpu0, spy = count()["count"], cpu_seconds(server.proc.pid), profile(server.proc.pid, "webhooks")
            wait_count(lambda: count()["count"], n)
            cpu = (cpu_seconds(server.proc.pid) - cpu0) / max(1, n - done0)
            stop_profile(spy)
            first, last = count()["first"], count()["last"]
            payload = server.query("SELECT payload FROM webhook_deliveries LIMIT 1")[0][0]
        before = count()["count"]
        t0 = time.perf_counter()
        with httpx.Client() as client:
            for _ in range(n):
                client.post(receiver + "/hook", content=payload, headers={"content-type": "application/json"}).raise_for_status()
        base = n / (time.perf_counter() - t0)
        assert count()["count"] - before == n
    row("baseline: plain httpx loop", base, "posts/s", extra=f"{n} bodies of {len(payload)} bytes")
    row("multimail webhook worker", (n - 1) / (last - first), "posts/s", baseline=base,
        extra="(first arrival to last)", target=">= 0.7x")
    print(f"  server CPU per webhook delivery: {cpu * 1000:.1f} ms (after start-up); load {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header("outbound and webhook delivery", args.database_url)
    outbound(args.messages, args.database_url)
    webhooks(args.messages, args.database_url)


if __name__ == "__main__":
    main()
