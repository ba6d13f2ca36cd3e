"""Inbound SMTP ingest: `multimail serve`'s SMTP port against an aiosmtpd sink that does nothing.

In one run, for 1 KB and 100 KB messages, 8 concurrent aiosmtplib clients (in this process, the
servers in their own processes, loopback) each keep one connection and send messages one after
another to a hosted mailbox; every message gets its 250 only once it is committed (MultiMail's
DATA handler answers after the commit). The baseline is aiosmtpd with a handler that answers
250 at once (benchmarks/_smtp_sink.py), loaded the same way. Prints msg/s, the server process's
CPU per message (utime+stime, steadier than msg/s on a shared machine), the per-batch rate
(batches of 20 messages per client: a periodic stall shows up here) and the ratio.

    python benchmarks/smtp_ingest.py [--messages 400] [--clients 8] [--mailbox-size 0] [--database-url URL]

`--mailbox-size N` fills the receiving mailbox with N messages first (through the store layer,
as check_inbox.py does): every received message is looked up by Message-ID in its mailbox, so
this shows whether ingest slows down as a mailbox grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage

import aiosmtplib
from _harness import HERE, free_port, header, multimail, percentile, post, row, wait_port
from check_inbox import fill


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/PID/stat): what it cost, whatever else loads the machine."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, to: str, *, messages: int, clients: int, size: int) -> tuple[float, list[float], list[float], float]:
    """`load` with the CPU the server process `pid` spent per message, in ms."""
    before = cpu_seconds(pid)
    rate, lat, batches = asyncio.run(load(port, to, messages=messages, clients=clients, size=size))
    return rate, lat, batches, (cpu_seconds(pid) - before) * 1000 / messages


def message(i: int, size: int, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"sender{i % 50}@partner.test"
    msg["To"] = to
    msg["Subject"] = f"ingest {i}"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@partner.test>"
    msg.set_content(("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size])
    return msg.as_bytes()


async def load(port: int, to: str, *, messages: int, clients: int, size: int) -> tuple[float, list[float], list[float]]:
    """(msg/s over the run, per-message latencies in ms, per-batch rates)."""
    bodies = [message(i, size, to) for i in range(messages)]
    per_client = messages // clients
    latencies: list[float] = []
    batch_ends: list[float] = []

    async def client(c: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await smtp.connect()
        for j in range(per_client):
            t0 = time.perf_counter()
            await smtp.sendmail("sender@partner.test", [to], bodies[c * per_client + j])
            done = time.perf_counter()
            latencies.append((done - t0) * 1000)
            batch_ends.append(done)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    batch_ends.sort()
    batch = 20 * clients
    rates, prev = [], start
    for k in range(batch - 1, len(batch_ends), batch):
        rates.append(batch / (batch_ends[k] - prev))
        prev = batch_ends[k]
    return len(latencies) / elapsed, latencies, rates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--mailbox-size", type=int, default=0)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header(f"SMTP ingest, {args.clients} clients, a mailbox of {args.mailbox_size} messages", args.database_url)
    sizes = [(1024, "1 KB", args.messages), (100 * 1024, "100 KB", max(args.clients * 20, args.messages // 4))]

    port = free_port()
    sink = subprocess.Popen([sys.executable, str(HERE / "_smtp_sink.py"), "--port", str(port)])
    try:
        wait_port(port)
        base, base_cpu = {}, {}
        for size, _label, n in sizes:
            asyncio.run(load(port, "x@sink.test", messages=n // 4, clients=args.clients, size=size))  # warm up
            base[size], _, _, base_cpu[size] = measured(sink.pid, port, "x@sink.test", messages=n, clients=args.clients, size=size)
    finally:
        sink.terminate()
        sink.wait(10)

    with multimail(args.database_url, smtp=True) as server:
        box = f"ingest-{uuid.uuid4().hex[:8]}@acme.test"
        box_id = post(server, "create_mailbox", {"address": box, "oversight_mode": "autonomous"})["mailbox_id"]
        if args.mailbox_size:
            server.stop()
            fill(server.database_url, [box_id] * 10, args.mailbox_size)
            server.restart()
        for size, label, n in sizes:
            asyncio.run(load(server.smtp_port, box, messages=n // 4, clients=args.clients, size=size))  # warm up
            rate, lat, batches, cpu = measured(server.proc.pid, server.smtp_port, box, messages=n, clients=args.clients, size=size)
            row(f"baseline: aiosmtpd sink, {label}", base[size], "msg/s", extra=f"CPU {base_cpu[size]:.2f} ms/msg")
            row(f"multimail serve, {label}", rate, "msg/s", baseline=base[size],
                extra=f"p50 {percentile(lat, 50):.1f} ms  p99 {percentile(lat, 99):.1f} ms  CPU {cpu:.2f} ms/msg  load {os.getloadavg()[0]:.1f}",
                target=">= 0.5x" + (", >= 300 msg/s" if size == 1024 else ""))
            print("    per batch of 20 per client: " + ", ".join(f"{r:.0f}" for r in batches) + " msg/s", flush=True)
        count = server.query("SELECT count(*) FROM messages WHERE direction = 'inbound'")[0][0] - args.mailbox_size
        # each client sends messages // clients (the remainder is not sent), warm-up included
        expected = sum((m // args.clients) * args.clients for _, _, n in sizes for m in (n, n // 4))
        print(f"  stored {count} of {expected} messages sent", flush=True)
        if count != expected:
            raise SystemExit("FAILED: not every accepted message was stored")


if __name__ == "__main__":
    main()
