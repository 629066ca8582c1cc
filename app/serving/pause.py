"""The operator's pause switch for queue mode (`heirloom jobs pause` / `resume`): one Redis key that every
worker reads before it starts a job.

A paused worker holds the messages it has fetched (at most one per engine process: its prefetch) and waits,
looking again every second; it fetches nothing more, as all its threads are waiting. Holding them is the
simplest correct choice: the messages stay unacknowledged in Redis, the worker's heartbeat goes on (so no
other worker takes them over), and a worker killed while paused loses nothing, as Dramatiq redelivers
them. Uploads are still accepted and queued; /healthz says `paused`. A worker asked to stop while paused
puts what it holds back on the queue instead of running it (`hold`'s answer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from dramatiq.brokers.redis import RedisBroker

from .broker import BrokerUnavailable, enqueue, lane, reachable, redis_client
from .job_store import JobStore

KEY = "heirloom:paused"  # present: paused; its value is when (Unix time), for `heirloom jobs list`
LOOK_EVERY_S = 1.0
T = TypeVar("T")


def pause(broker: RedisBroker) -> None:
    _call(lambda r: r.set(KEY, str(time.time()), nx=True), broker)  # nx: a second pause keeps the first time


def resume(broker: RedisBroker) -> bool:
    """-> whether it was paused."""
    return bool(_call(lambda r: r.delete(KEY), broker))


def paused_since(broker: RedisBroker) -> float | None:
    raw: Any = _call(lambda r: r.get(KEY), broker)
    return None if raw is None else float(cast(bytes, raw))


def hold(broker: RedisBroker, stopping: threading.Event, every_s: float = LOOK_EVERY_S) -> bool:
    """Wait while the queue is paused. -> True: go on with the job; False: the worker is stopping while
    paused, so the job must go back to the queue untouched. Redis out of reach counts as not paused: the
    job's own calls will meet the outage and the worker handles it as ever."""
    while True:
        try:
            if paused_since(broker) is None:
                return True
        except BrokerUnavailable:
            return True
        if stopping.wait(every_s):
            return False


def put_back(broker: RedisBroker, store: JobStore, job_id: str) -> None:
    """A held job back at the end of the queue, under a new message (the caller then acknowledges the old)."""
    store.set_message_id(job_id, enqueue(broker, job_id, lane(store.get(job_id).batch)))


def _call(fn: Callable[[redis.Redis], T], broker: RedisBroker) -> T:
    with reachable():
        return fn(redis_client(broker))
