"""The async runner: carries out the steps of :mod:`.logic` in an event loop, and the watcher
beside a paused run as a task that is cancelled when the pause is over."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.flow_runs import apause_flow_run, asuspend_flow_run

from ..credentials import MultiMailCredentials
from .logic import check_times, nudge_steps, wait_steps, watch_steps
from .prefect_run import module_logger
from .steps import FlowRunState, Pause, Request, Sleep, Step, Steps, Stopped, Suspend, Unwatch, Watch
from .targets import Target


class Async:
    """Async I/O for the steps, as :class:`~.blocking.Blocking`; the watcher task is cancelled
    when the pause is over (it is never told to stop)."""

    def __init__(self, api: Any, credentials: MultiMailCredentials | None = None):
        self.api, self.credentials = api, credentials
        self.watcher: asyncio.Future[None] | None = None

    async def do(self, step: Step) -> Any:
        """Carry out one step; its result."""
        match step:
            case Request():
                return await step.perform(self.api)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
            case Stopped():
                return False
            case Watch():
                if self.credentials is None:
                    raise TypeError("Only a wait's own runner (which has the credentials) starts a watcher.")
                self.watcher = asyncio.ensure_future(
                    awatch(self.credentials, step.target, step.flow_run_id, step.pause_key, step.deadline))
            case Unwatch():
                await self.unwatch()
            case Pause():
                return await apause_flow_run(**step.arguments())
            case Suspend():
                return await asuspend_flow_run(**step.arguments())  # raises Pause when it suspends
            case FlowRunState(flow_run_id=flow_run_id):
                async with get_client() as prefect:
                    return (await prefect.read_flow_run(flow_run_id)).state
            case _:
                raise TypeError(f"Not a step of a MultiMail wait: {step!r}")
        return None

    async def unwatch(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass


async def arun(steps: Steps, io: Async) -> Any:
    """Carry out ``steps`` with async I/O; their return value (or their exception)."""
    send, value = steps.send, None
    while True:
        try:
            step = send(value)
        except StopIteration as done:
            return done.value
        try:
            send, value = steps.send, await io.do(step)
        except Exception as exc:
            send, value = steps.throw, exc


async def awatch(credentials: MultiMailCredentials, target: Target, flow_run_id: Any, pause_key: str,
                 deadline: float) -> None:
    """The async twin of :func:`~.blocking.watch`; cancelled when the pause ends."""
    try:
        async with credentials.get_async_client() as client:
            nudge, grace = await arun(watch_steps(target, deadline), Async(client))
        await asyncio.sleep(grace)
        async with get_client() as prefect:
            await arun(nudge_steps(flow_run_id, pause_key, nudge, deadline), Async(prefect))
    except Exception:
        module_logger.debug("The MultiMail wait watcher stopped", exc_info=True)


async def await_(credentials: MultiMailCredentials, target: Target, timeout: float, poll_interval: float,
           suspend: bool | None = None) -> Any:
    """The whole wait for ``target``, in the event loop; the watcher is cancelled however it ends."""
    check_times(timeout, poll_interval)
    deadline = time.monotonic() + timeout
    async with credentials.get_async_client() as client:
        io = Async(client, credentials)
        try:
            return await arun(wait_steps(target, deadline, timeout, poll_interval, suspend), io)
        finally:
            await io.unwatch()
