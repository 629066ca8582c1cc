"""Operator tools: /metrics (single process and queue mode, behind the token), `heirloom jobs`
(list, retry, cancel, pause, resume, prune) end to end against a real redis-server, retention of old
records, and the log helper that keeps an outage to one line."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.serving import broker as jq
from app.serving import pause
from app.serving.job_store import JobStore
from app.serving.log_once import LogOnce
from app.serving.operator import main as jobs
from app.serving.tally import BUCKETS, Tally
from model.errors import UnreadableImage

from app_helpers import client_for, image_bytes, settings_for
from queue_helpers import REDELIVERY_S, needs_redis, queue_settings

TOKEN = "metrics-token-42x"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = 86400.0


def scrape(web) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    r = web.get("/metrics", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    found = {}
    for family in text_string_to_metric_families(r.text):
        assert family.name.startswith("heirloom_"), family.name
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def run_job(data: Path, job_id: str, fail: Exception | None = None) -> str:
    """What a worker does with a job, in this process, with a stand-in for the model."""
    from app.serving.consumer import JobRunner
    from app.serving.contract import ModelProfile
    from app.serving.processes import Outcome

    def engine(job):
        if fail is not None:
            raise fail
        return Outcome(image_bytes(40, 24), "PNG", "PNG", 40, 24, image_bytes(20, 12, "JPEG"))

    profile = ModelProfile(32, 32, "cpu", "stand-in.safetensors", "ab" * 32)
    return JobRunner(JobStore(data), engine, profile, "inline")(job_id)


def age_record(data: Path, job_id: str, days: float) -> None:
    """Pretend a job was made and finished `days` ago."""
    store = JobStore(data)
    rec = store.get(job_id)
    then = time.time() - days * DAY
    old = replace(rec, created=then, finished=then if rec.finished else None)
    (store.folder(job_id) / "job.json").write_text(old.to_json())


# --- the pieces -------------------------------------------------------------------------------------------


def test_an_outage_is_one_line_its_end_another_and_a_bug_keeps_its_traceback(caplog):
    log = logging.getLogger("test.log_once")
    once = LogOnce(log, "collecting")
    with caplog.at_level(logging.INFO, "test.log_once"):
        for _ in range(20):  # ten seconds of a loop every 0.5 s while Redis is down
            once.failed(ConnectionRefusedError("Error 111 connecting to localhost:6379"))
        assert once.failing
        once.succeeded()
        once.succeeded()
        once.failed(ValueError("a bug"))
        once.failed(ValueError("the same bug again"))
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0][0] == "ERROR" and "ConnectionRefusedError" in lines[0][1] and not lines[0][2]
    assert lines[1][0] == "WARNING" and "works again, after 20 failed round(s)" in lines[1][1]
    assert lines[2][0] == "ERROR" and "ValueError: a bug" in lines[2][1] and lines[2][2]  # a bug: its traceback


def test_the_tally_counts_outcomes_and_durations_across_instances(tmp_path):
    Tally(tmp_path).record("done", run_s=0.3, wait_s=2.0)
    Tally(tmp_path).record("done", run_s=1000.0, wait_s=0.0)  # another process, the same file
    Tally(tmp_path).record("failed", run_s=0.05)
    counts = Tally(tmp_path).read()
    assert counts.outcomes == {"done": 2, "failed": 1, "cancelled": 0}
    buckets = dict(counts.run.cumulative())
    assert (buckets["0.1"], buckets["0.5"], buckets[str(BUCKETS[-1])], buckets["+Inf"]) == (1, 2, 2, 3)
    assert counts.run.sum == pytest.approx(1000.35) and counts.wait.cumulative()[-1] == ("+Inf", 2)
    with pytest.raises(ValueError):
        Tally(tmp_path).record("lost")


# --- /metrics in single-process mode ----------------------------------------------------------------------


def test_metrics_need_the_token_and_count_photos_and_engine_restarts(tmp_path, tiny_weights):
    settings = settings_for(tmp_path / "data", tiny_weights, token=TOKEN)
    with client_for(settings) as web:
        r = web.get("/metrics")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        before = scrape(web)
        assert value(before, "heirloom_jobs_total", outcome="done") == 0
        assert value(before, "heirloom_workers") == 1 and value(before, "heirloom_engine_restarts_total") == 0
        r = web.post("/colorize", files={"file": ("a.png", image_bytes(), "image/png")}, headers=AUTH)
        assert r.status_code == 200
        r = web.post("/colorize", files={"file": ("b.png", b"not an image", "image/png")}, headers=AUTH)
        assert r.status_code == 415
        # An engine process killed between jobs (as the OOM killer would): the next job starts another.
        os.kill(web.app.state.runtime.backend.processes.pids()[0], 9)
        time.sleep(0.2)
        r = web.post("/colorize", files={"file": ("c.png", image_bytes(30, 20), "image/png")}, headers=AUTH)
        assert r.status_code == 200
        after = scrape(web)
    assert value(after, "heirloom_jobs_total", outcome="done") == 2
    assert value(after, "heirloom_jobs_total", outcome="failed") == 1
    assert value(after, "heirloom_job_duration_seconds_count") == 3
    assert value(after, "heirloom_job_duration_seconds_sum") > 0
    assert value(after, "heirloom_engine_restarts_total") == 1
    assert value(after, "heirloom_queue_jobs", state="waiting") == 0
    assert value(after, "heirloom_queue_capacity") == settings.queue_size
    assert ("heirloom_broker_up", ()) not in after  # queue mode's figures are not made up here
    assert "/metrics" in web.app.openapi()["paths"] and web.app.openapi()["paths"]["/metrics"]["get"]["tags"] == [
        "service"
    ]


# --- queue mode: /metrics and `heirloom jobs` against a real redis-server ---------------------------------


@needs_redis
def test_heirloom_jobs_and_metrics_in_queue_mode(tmp_path, redis_url, capsys):
    from heirloom.cli import main as heirloom

    data = tmp_path / "data"
    where = ["--data-dir", str(data), "--broker", redis_url]
    settings = queue_settings(data, redis_url).with_(token=TOKEN)
    with client_for(settings) as web:
        assert web.get("/metrics").status_code == 401
        ids = []
        for name in ("a.png", "b.png", "c.png"):
            r = web.post("/api/photos", files={"file": (name, image_bytes(), "image/png")}, headers=AUTH)
            assert r.status_code == 202
            ids.append(r.json()["id"])
        a, b, c = ids
        found = scrape(web)
        assert value(found, "heirloom_queue_jobs", state="waiting") == 3
        assert value(found, "heirloom_queue_jobs", state="running") == 0
        assert value(found, "heirloom_queue_jobs", state="dead_lettered") == 0
        assert value(found, "heirloom_workers") == 0 and value(found, "heirloom_broker_up") == 1
        assert value(found, "heirloom_queue_paused") == 0 and value(found, "heirloom_queue_capacity") == 1000

        assert run_job(data, a) == "done"
        assert run_job(data, b, fail=UnreadableImage("torn")) == "failed"
        assert web.get(f"/api/jobs/{b}", headers=AUTH).json()["status"] == "failed"  # collected: told to the page

        # list: one line per job, oldest first; --status filters.
        capsys.readouterr()
        assert heirloom(["jobs", "list", *where]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in out[1:4]] == ids and out[-1] == "3 job(s)"
        assert out[1].split()[1:4] == ["add", "done", "1"] and out[1].endswith("a.png")
        assert jobs(["list", "--status", "queued", *where]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in out[1:-1]] == [c] and out[-1] == "1 job(s) queued"

        # cancel: a queued job fails with the operator's sentence; a worker that gets it later skips it.
        assert jobs(["cancel", c, *where]) == 0
        state = web.get(f"/api/jobs/{c}", headers=AUTH).json()
        assert (
            state["status"] == "failed" and state["error"]["error"] == "cancelled" and state["error"]["status"] == 409
        )
        assert "cancelled by the operator" in state["error"]["message"]
        assert run_job(data, c) == "skipped"
        assert jobs(["cancel", c, *where]) == 2 and "only a queued job" in capsys.readouterr().err
        assert jobs(["cancel", "x" * 22, *where]) == 2 and "no job with this id" in capsys.readouterr().err
        assert jobs(["cancel", "-x" * 11, *where]) == 2 and "no job with this id" in capsys.readouterr().err  # an id
        assert jobs(["retry", a, *where]) == 2 and "only a failed job" in capsys.readouterr().err
        assert jobs(["retry", "x" * 22, *where]) == 2 and "no job with this id" in capsys.readouterr().err

        # retry: the failed album job is queued again, as new, and this time it is stored in the album.
        broker = jq.make_broker(redis_url, REDELIVERY_S)
        try:
            assert jobs(["retry", b, *where]) == 0
            rec = JobStore(data).get(b)
            assert (rec.status, rec.attempts, rec.error, rec.collected) == ("queued", 0, None, False)
            assert rec.message_id is not None and jq.is_known(broker, rec.message_id)
        finally:
            broker.close()
        assert b in JobStore(data).not_finished()
        assert web.get(f"/api/jobs/{b}", headers=AUTH).json()["status"] == "queued"
        assert run_job(data, b) == "done"
        state = web.get(f"/api/jobs/{b}", headers=AUTH).json()
        assert state["status"] == "done" and state["photo_id"] == b

        found = scrape(web)
        assert value(found, "heirloom_jobs_total", outcome="done") == 2
        assert value(found, "heirloom_jobs_total", outcome="failed") == 1
        assert value(found, "heirloom_jobs_total", outcome="cancelled") == 1
        assert value(found, "heirloom_job_duration_seconds_count") == 3  # a cancelled job never ran
        assert value(found, "heirloom_job_wait_seconds_count") == 3

        # pause: workers hold; /healthz, /metrics and `list` say so; resume lets them go on.
        assert jobs(["pause", *where]) == 0
        health = web.get("/healthz").json()
        assert health["status"] == "degraded" and health["queue"]["paused"] is True
        assert any("paused" in p for p in health["problems"])
        assert value(scrape(web), "heirloom_queue_paused") == 1
        capsys.readouterr()
        assert jobs(["list", *where]) == 0 and "PAUSED" in capsys.readouterr().out
        broker = jq.make_broker(redis_url, REDELIVERY_S)
        try:
            held: list[bool] = []
            waiting = threading.Thread(target=lambda: held.append(pause.hold(broker, threading.Event(), 0.05)))
            waiting.start()
            time.sleep(0.3)
            assert waiting.is_alive() and held == []  # a worker's thread waits, its job not started
            assert jobs(["resume", *where]) == 0 and "resumed" in capsys.readouterr().out
            waiting.join(5)
            assert held == [True]
            # A worker told to stop while paused gives its job back instead of running it.
            assert jobs(["pause", *where]) == 0
            stopping = threading.Event()
            stopping.set()
            assert pause.hold(broker, stopping, 0.05) is False
            before = jq.waiting(broker)
            pause.put_back(broker, JobStore(data), a)
            assert jq.waiting(broker) == before + 1
        finally:
            broker.close()
        assert jobs(["resume", *where]) == 0
        assert "paused" not in web.get("/healthz").json()["queue"]

    # Redis gone: the tools say so in one line.
    assert jobs(["pause", "--data-dir", str(data), "--broker", "redis://127.0.0.1:1/0"]) == 2
    assert "cannot be reached" in capsys.readouterr().err
    assert jobs(["list", "--data-dir", str(tmp_path / "typo")]) == 2
    assert "holds no jobs" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


# --- retention --------------------------------------------------------------------------------------------


def add_photo(storage, name: str) -> str:
    from app.album.versions import ModelId, Rendering
    from model import ColorizeOptions

    r = Rendering(image_bytes(), "PNG", image_bytes(20, 12, "JPEG"), ColorizeOptions(32), ModelId())
    return storage.add(name=name, original=image_bytes(), original_format="PNG", width=40, height=24, r=r).id


@needs_redis
@pytest.mark.slow  # a `heirloom worker` process: it loads torch and the model
def test_a_paused_queue_holds_a_real_worker_until_resumed(tmp_path, tiny_weights, redis_url):
    from queue_helpers import WorkerProc

    data = tmp_path / "data"
    where = ["--data-dir", str(data), "--broker", redis_url]
    worker = WorkerProc(redis_url, data, tiny_weights, "pausable").wait_ready()
    try:
        assert jobs(["pause", *where]) == 0
        settings = queue_settings(data, redis_url)
        with client_for(settings) as web:
            job = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
            time.sleep(3)  # many times what the tiny photo takes
            rec = JobStore(data).get(job["id"])
            assert (rec.status, rec.attempts) == ("queued", 0)  # held, not started
            assert jobs(["resume", *where]) == 0
            deadline = time.monotonic() + 30
            while web.get(f"/api/jobs/{job['id']}").json()["status"] != "done":
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.1)
    finally:
        worker.stop()


def test_retention_removes_what_is_over_and_old_and_keeps_the_rest(tmp_path, capsys, caplog):
    from app.album.batch_index import Batch, BatchItem
    from app.album.storage import Storage
    from app.safe_files import new_id
    from app.serving.contract import Request

    data = tmp_path / "data"
    store = JobStore(data)
    storage = Storage(data)
    old = time.time() - 40 * DAY

    def job(kind: str = "add", batch: str | None = None) -> str:
        return store.create(kind, image_bytes(), Request(), batch=batch, position=0 if batch else None).id

    def collect(job_id: str) -> None:
        store.collect(job_id, lambda rec: "")

    # Jobs: old and dealt with (gone), recent (kept), old but not dealt with (kept).
    old_done, recent_done, old_failed, old_uncollected, old_colorize = job(), job(), job(), job(), job("colorize")
    for j in (old_done, recent_done, old_uncollected, old_colorize):
        run_job(data, j)
    run_job(data, old_failed, fail=UnreadableImage("torn"))
    for j in (old_done, recent_done, old_failed):
        collect(j)
    # Batches: old and never complete (gone, its stored photo stays), old and complete (kept), old and
    # incomplete with a job still queued (kept), recent and incomplete (kept).
    in_album = add_photo(storage, "kept.png")
    index = storage.index.batches
    abandoned = Batch(new_id(), old, [BatchItem(0, "kept.png"), BatchItem(1, "lost.png")])
    complete = Batch(new_id(), old, [BatchItem(0, "kept.png")])
    waiting = Batch(new_id(), old, [BatchItem(0, "slow.png")])
    recent = Batch(new_id(), time.time(), [BatchItem(0, "new.png")])
    for b in (abandoned, complete, waiting, recent):
        index.create(b)
    index.settle(abandoned.id, 0, in_album)
    index.settle(complete.id, 0, in_album)
    old_queued = job(batch=waiting.id)
    for b in (abandoned, complete, waiting):  # settling moved them: back to 40 days ago
        index._db.execute("UPDATE batches SET active = ? WHERE id = ?", (old, b.id))
    for j in (old_done, old_failed, old_uncollected, old_queued, old_colorize):
        age_record(data, j, 40)
    leftover = store.staging / new_id()
    leftover.mkdir()
    os.utime(leftover, (old, old))
    storage.close()

    where = ["--data-dir", str(data)]
    assert jobs(["prune", *where, "--days", "0"]) == 0 and "nothing removed" in capsys.readouterr().out
    assert jobs(["prune", *where]) == 0  # the default: 30 days
    out = capsys.readouterr().out
    assert "3 finished job record(s), 1 half-written job folder(s), 1 abandoned batch(es)" in out, out
    assert sorted(store.ids()) == sorted([recent_done, old_uncollected, old_queued])
    assert not leftover.exists()
    storage = Storage(data)
    try:
        assert {b.id for b in storage.recent_batches()} == {complete.id, waiting.id, recent.id}
        assert storage.get(in_album).name == "kept.png" and storage.count() == 1  # album photos never go
    finally:
        storage.close()
    assert jobs(["prune", *where]) == 0 and "removed 0 finished" in capsys.readouterr().out

    # The web side sweeps at start: the queued job's batch goes once its job is dealt with and old.
    run_job(data, old_queued, fail=UnreadableImage("torn"))
    store.collect(old_queued, lambda rec: "")
    age_record(data, old_queued, 40)
    with caplog.at_level(logging.INFO, "heirloom.app"):
        with client_for(settings_for(data, None, load_model=False)) as web:
            deadline = time.monotonic() + 10
            while not any("retention (30 days)" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert web.get(f"/api/batches/{waiting.id}").status_code == 404
            assert web.get(f"/api/batches/{complete.id}").status_code == 200
    line = next(r.getMessage() for r in caplog.records if "retention (30 days)" in r.getMessage())
    assert "1 finished job record(s)" in line and "1 abandoned batch(es)" in line
    assert json.loads((data / "tally.json").read_text())["outcomes"]["failed"] == 2
