"""/metrics in Prometheus's text format, through `prometheus-client` (its exposition format and registry are not
worth writing ourselves). Every name starts with `heirloom_`.

Figures are read when scraped (`Backend.figures`), not kept in this process: a fresh `CollectorRegistry` per
scrape holds one collector, never the library's global registry, so several apps in one process (the tests)
cannot clash and nothing is counted twice. Jobs by outcome and their durations come from the data directory's
tally (serving/tally.py), the same on every web server; queue depth and workers from Redis (queue mode) or this
server's admission queue and engine processes (single-process mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .serving.figures import Figures
from .serving.tally import Histogram

MEDIA_TYPE = CONTENT_TYPE_LATEST


class FiguresCollector(Collector):
    def __init__(self, read: Callable[[], Figures]):
        self.read = read

    def collect(self) -> Iterator[Metric]:
        f = self.read()
        jobs = CounterMetricFamily(
            "heirloom_jobs",
            "Jobs ended, by outcome (done, failed, cancelled by the operator); the data directory's count, the "
            "same on every web server",
            labels=["outcome"],
        )
        for outcome, n in f.counts.outcomes.items():
            jobs.add_metric([outcome], n)
        yield jobs
        yield histogram("heirloom_job_duration_seconds", "From a job's start in an engine to its outcome", f.counts.run)
        yield histogram(
            "heirloom_job_wait_seconds", "From a job's upload to its start (queue, or admission)", f.counts.wait
        )
        if f.waiting is not None or f.running is not None or f.dead_lettered is not None:
            depth = GaugeMetricFamily(
                "heirloom_queue_jobs",
                "Jobs in the queue: waiting for a worker, running (queue mode: fetched and not yet acknowledged), "
                "dead-lettered",
                labels=["state"],
            )
            states = {"waiting": f.waiting, "running": f.running, "dead_lettered": f.dead_lettered}
            for state, count in states.items():
                if count is not None:
                    depth.add_metric([state], count)
            yield depth
        yield from gauge("heirloom_queue_capacity", "Jobs that may wait before uploads get 503", f.capacity)
        yield from gauge(
            "heirloom_workers", "Live queue workers (queue mode) or engine processes alive (single process)", f.workers
        )
        yield from gauge("heirloom_queue_paused", "1 while the operator has paused the queue", f.paused)
        yield from gauge("heirloom_broker_up", "1 when Redis answered this scrape (queue mode)", f.broker_up)
        if f.engine_restarts is not None:
            yield CounterMetricFamily(
                "heirloom_engine_restarts",
                "Engine processes of this server started again since it started (after a crash, a timeout or "
                "an out-of-memory kill)",
                value=f.engine_restarts,
            )


def histogram(name: str, help_text: str, h: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, help_text, buckets=h.cumulative(), sum_value=h.sum)


def gauge(name: str, help_text: str, value: float | bool | None) -> Iterator[GaugeMetricFamily]:
    if value is not None:
        yield GaugeMetricFamily(name, help_text, value=float(value))


def exposition(read: Callable[[], Figures]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(read))
    return generate_latest(registry)
