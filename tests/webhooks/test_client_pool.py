"""The webhook worker's kept-alive clients are shared by its delivery threads: a client that
leaves the pool while a post is using it must not be closed under that post."""

from __future__ import annotations

import threading

from multimail_server.webhooks.sender import ClientPool, post_event
from multimail_server.webhooks.ssrf import check_url

from .conftest import Receiver


def _post(url: str, pool: ClientPool):
    return post_event(url=url, secrets=["whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], msg_id="msg_1", body="{}",
                      allow_private=True, timeout=10, pool=pool)


def test_a_client_evicted_mid_post_is_closed_when_the_post_returns_it_and_idle_ones_at_once():
    gate = threading.Event()
    slow = Receiver(keep_alive=True, gate=gate)
    quick = [Receiver(keep_alive=True) for _ in range(3)]
    pool = ClientPool(timeout=10, size=2)
    target = {r: check_url(r.url, allow_private=True) for r in [slow, *quick]}
    try:
        results: list = []
        in_flight = threading.Thread(target=lambda: results.append(_post(slow.url, pool)))
        in_flight.start()
        assert slow.arrived.wait(5)
        with pool.lease(target[slow]) as a:  # the very client the post is using
            pass
        # Two new targets: the pool holds two, so A (in use) leaves it.
        assert _post(quick[0].url, pool).ok and _post(quick[1].url, pool).ok
        assert not a.is_closed
        gate.set()
        in_flight.join(10)
        assert [r.ok for r in results] == [True]  # the old pool closed A under it: a failed attempt
        assert a.is_closed  # closed by its last user: not leaked
        assert len(slow.requests) == 1

        with pool.lease(target[quick[0]]) as b, pool.lease(target[quick[1]]) as c:
            pass
        assert not b.is_closed and not c.is_closed
        assert _post(quick[2].url, pool).ok  # evicts B, idle: closed at once
        assert b.is_closed and not c.is_closed
        with pool.lease(target[quick[2]]) as d:
            pool.close()
            assert c.is_closed and not d.is_closed  # C idle; D still lent out
        assert d.is_closed
    finally:
        gate.set()
        for r in [slow, *quick]:
            r.stop()
