"""The job queue on Redis, through Dramatiq's Redis broker: what the web side and the workers share.

A message carries only a job id (the job itself is in `job_store`). Dramatiq's Redis broker
keeps a fetched message in the worker's own acknowledgement set until the worker acks it, which our
worker does only after the result (or the typed error) is stored. Every broker call records the
worker's heartbeat; when a worker has been silent for `redelivery_s` (killed, its machine gone),
the next maintenance pass of any live worker puts its unacknowledged messages back on the queue.
Dramatiq runs maintenance on a random 0.1 % of calls; our workers also run it with every heartbeat
(every `redelivery_s / 4`, busy or idle), so a dead worker's job is back on the queue within
1.25 × `redelivery_s` of its last sign of life, while any other worker lives.

Imports redis and dramatiq, never torch or the web framework.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any, cast

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from .contract import ModelProfile

# Two lanes: a photo uploaded on its own, a re-run or a /colorize request goes ahead of the photos of bulk
# batches. Each lane is a Dramatiq queue with its own actor; a worker prefetches at most one message per lane
# and engine, and runs the lower actor priority first, so a single photo waits for at most the jobs in hand.
QUEUE, ACTOR = "heirloom", "colorize"  # bulk (batches): the first queue's name, kept for queues already in Redis
NOW_QUEUE, NOW_ACTOR = "heirloom-now", "colorize-now"
BULK, NOW = "bulk", "now"
LANES = {NOW: (NOW_QUEUE, NOW_ACTOR, 0), BULK: (QUEUE, ACTOR, 10)}  # lane -> (queue, actor, Dramatiq priority)


def lane(batch: str | None) -> str:
    """The photos of a batch take the bulk lane; a photo on its own, a re-run, a /colorize request go ahead."""
    return BULK if batch is not None else NOW


NAMESPACE = "dramatiq"  # Dramatiq's default key prefix: its own tools (dramatiq-dashboard) read it
MODEL_KEY = "heirloom:model"  # what the workers' model accepts: default render size, multiple
WORKERS_KEY = "heirloom:workers"  # sorted set: worker name -> its last heartbeat (Unix time)
BROKER_IDS_KEY = "heirloom:broker-ids"  # hash: worker name -> the Dramatiq broker id its messages are held under


class BrokerUnavailable(Exception):
    """Redis cannot be reached."""


HEARTBEAT_COMMAND = "qsize"  # a read-only dispatch: it records the heartbeat and changes nothing


class _Broker(RedisBroker):
    """Dramatiq's Redis broker; with `judge`, every heartbeat also looks for dead workers. Without it
    (the web side) no call ever does: only workers, with their common timeout, judge workers."""

    def __init__(self, judge: bool, **kw: Any):
        super().__init__(**kw)  # type: ignore[no-untyped-call]
        self.judge = judge

    def _should_do_maintenance(self, command: str) -> int:
        if not self.judge:
            return 0
        return 1 if command == HEARTBEAT_COMMAND else int(super()._should_do_maintenance(command))


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Redis's own errors, as the one error the callers handle: Redis cannot be reached."""
    try:
        yield
    except redis.RedisError as e:
        raise BrokerUnavailable(str(e)) from e


def make_broker(url: str, redelivery_s: float, judge: bool = False) -> RedisBroker:
    """A broker on `url` with the redelivery timeout of the settings; `judge`: a worker's (see _Broker)."""
    broker = _Broker(
        judge,
        url=url,
        namespace=NAMESPACE,
        heartbeat_timeout=int(redelivery_s * 1000),
        # No retries, no time limit, no age limit: our worker stores every outcome, failures
        # included, and its engine processes have their own timeout.
        middleware=[],
    )
    for queue, _, _ in LANES.values():
        broker.declare_queue(queue)
    return broker


def redis_client(broker: RedisBroker) -> redis.Redis:
    return cast(redis.Redis, broker.client)


def enqueue(broker: RedisBroker, job_id: str, lane: str = BULK) -> str:
    """Put a job on its lane's queue; -> the broker's message id (for `position`)."""
    queue, actor, _ = LANES[lane]
    msg: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(job_id,), kwargs={}, options={}
    )
    with reachable():
        sent = broker.enqueue(msg)
    return str(sent.options["redis_message_id"])


def position(broker: RedisBroker, message_id: str, lane: str = BULK) -> int | None:
    """0 for the next job to be fetched; None when it is not waiting (fetched by a worker, or done). A bulk
    job also waits behind every job in the lane ahead of it."""
    r = redis_client(broker)
    with reachable():
        pos = r.lpos(f"{NAMESPACE}:{LANES[lane][0]}", message_id)
        ahead = int(r.llen(f"{NAMESPACE}:{NOW_QUEUE}")) if lane == BULK and pos is not None else 0
    return None if pos is None else int(cast(int, pos)) + ahead


def is_known(broker: RedisBroker, message_id: str) -> bool:
    """Does the broker still hold this message (waiting, or fetched and not acknowledged)?"""
    r = redis_client(broker)
    with reachable():
        return any(r.hexists(f"{NAMESPACE}:{queue}.msgs", message_id) for queue, _, _ in LANES.values())


def server_run_id(broker: RedisBroker) -> str:
    """Redis's run id: a new one after every restart."""
    with reachable():
        return str(redis_client(broker).info("server")["run_id"])


def persistence_warning(broker: RedisBroker) -> str | None:
    """What a restart of this Redis would lose, for a warning at start; None when it keeps an append-only file."""
    with reachable():
        info = redis_client(broker).info("persistence")
    if int(info.get("aof_enabled", 0)):
        return None
    return (
        "Redis runs without appendonly (the Debian default): a restart or crash loses the queued messages. "
        "Nothing is lost for good (the web server queues those jobs again from their records within seconds of "
        "the restart), but `appendonly yes` in redis.conf keeps the queue's order and saves the wait."
    )


def ping(broker: RedisBroker) -> None:
    with reachable():
        redis_client(broker).ping()


def waiting(broker: RedisBroker) -> int:
    r = redis_client(broker)
    with reachable():
        return sum(int(r.llen(f"{NAMESPACE}:{queue}")) for queue, _, _ in LANES.values())


def unacknowledged(broker: RedisBroker) -> int:
    """Messages fetched by some worker and not acknowledged yet (running, prefetched, or of a dead worker)."""
    r = redis_client(broker)
    total = 0
    for queue, _, _ in LANES.values():
        for key in r.scan_iter(f"{NAMESPACE}:__acks__.*.{queue}"):
            total += int(r.scard(key))
    return total


def dead_lettered(broker: RedisBroker) -> int:
    r = redis_client(broker)
    return sum(int(r.zcard(f"{NAMESPACE}:{queue}.XQ")) for queue, _, _ in LANES.values())


def heartbeat(broker: RedisBroker, worker: str, profile: ModelProfile, ttl_s: float) -> None:
    """A worker is alive: Dramatiq's heartbeat (one cheap broker call, which also runs maintenance),
    our worker list, and the model profile for the web side."""
    for queue, _, _ in LANES.values():  # maintenance looks at one queue's acknowledgements per call: each lane
        getattr(broker, f"do_{HEARTBEAT_COMMAND}")(queue)  # records the heartbeat, runs maintenance (_Broker)
    r = redis_client(broker)
    now = time.time()
    pipe = r.pipeline()
    pipe.zadd(WORKERS_KEY, {worker: now})
    pipe.hset(BROKER_IDS_KEY, worker, broker.broker_id)
    pipe.zremrangebyscore(WORKERS_KEY, 0, now - ttl_s)
    pipe.set(MODEL_KEY, json.dumps(profile.__dict__), ex=max(1, int(ttl_s)))
    pipe.execute()


def leave(broker: RedisBroker, worker: str) -> None:
    r = redis_client(broker)
    r.zrem(WORKERS_KEY, worker)
    r.hdel(BROKER_IDS_KEY, worker)


def reclaim(broker: RedisBroker, worker: str) -> bool:
    """A worker starting under the name of one that died (its process restarted: same host and name) takes
    back the jobs that one held at once, instead of after the redelivery timeout: the old broker id is
    marked silent since the epoch, so the next maintenance pass (this worker's first heartbeat) puts its
    unacknowledged messages back on the queue. Worker names must be unique among live workers (the default
    host:pid is). -> whether an earlier incarnation was found."""
    r = redis_client(broker)
    raw = r.hget(BROKER_IDS_KEY, worker)
    old = None if raw is None else cast(bytes, raw).decode()
    if old is None or old == broker.broker_id:
        return False
    r.zadd(f"{NAMESPACE}:__heartbeats__", {old: 0})
    return True


def live_workers(broker: RedisBroker, ttl_s: float) -> int:
    with reachable():
        return int(redis_client(broker).zcount(WORKERS_KEY, time.time() - ttl_s, "+inf"))


def model_profile(broker: RedisBroker) -> ModelProfile | None:
    """The model the workers hold, as the last one to start published it; None before any worker ran."""
    with reachable():
        raw = redis_client(broker).get(MODEL_KEY)
    if raw is None:
        return None
    fields = json.loads(cast(bytes, raw))
    if "footprint" in fields:
        fields["footprint"] = tuple(fields["footprint"])  # a JSON list
    return ModelProfile(**fields)
