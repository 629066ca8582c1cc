"""Admission for model calls: at most `workers` calls run and `queue_size` wait; one more is refused
at once with `QueueFull` (HTTP 503 + Retry-After) rather than left to hang.

Each running call holds a thread that waits on a worker process (serving/processes.py); the work
itself, decoding included, happens in that process.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import QueueFull

T = TypeVar("T")


class WorkerPool:
    def __init__(self, workers: int, queue_size: int):
        self.workers = workers
        self.capacity = workers + queue_size
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="heirloom-model")
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._lock = threading.Lock()
        self._pending = 0
        self._mean_s = 1.0  # running mean of a call's duration, for Retry-After

    @property
    def pending(self) -> int:
        return self._pending

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_s * self.capacity / self.workers))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise QueueFull(
                f"The server is busy with {self.capacity} photos; please retry shortly.", self.retry_after()
            )
        with self._lock:
            self._pending += 1
        start = time.perf_counter()

        def done(_: Future[T]) -> None:
            with self._lock:
                self._pending -= 1
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - start)
            self._slots.release()

        try:
            fut = self._executor.submit(fn, *args)
        except BaseException:
            done(Future[T]())
            raise
        fut.add_done_callback(done)
        return fut

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        # If the client goes away the call still finishes in its thread; its slot is freed when it does.
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
