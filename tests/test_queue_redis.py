"""Queue mode against a real redis-server (started here on a free port) and real `heirloom worker`
processes with the tiny model: many jobs on two workers, a worker killed with -9 mid-job, a web
server restarted with jobs waiting. Skipped, saying why, where redis-server is not installed."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from app.serving import broker as jq
from app.serving.job_store import JobStore

from app_helpers import client_for, image_bytes, settings_for, size_of
from queue_helpers import REDELIVERY_S, RedisServer, WorkerProc, needs_redis, redis_server

pytestmark = needs_redis


@pytest.fixture
def redis_url(tmp_path: Path):
    with redis_server(tmp_path / "redis") as url:
        yield url


def queue_settings(data: Path, url: str):
    return settings_for(data, None, broker_url=url, redelivery_s=REDELIVERY_S, load_model=False)


def wait_for(client, job_ids, timeout_s: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        states = {j: client.get(f"/api/jobs/{j}").json() for j in job_ids}
        if all(s["status"] in ("done", "failed") for s in states.values()):
            return states
        assert time.monotonic() < deadline, Counter(s["status"] for s in states.values())
        time.sleep(0.2)


def finished_lines(workers: list[WorkerProc]) -> Counter[str]:
    """How often each job id was reported finished by any worker."""
    seen: Counter[str] = Counter()
    for w in workers:
        for line in w.lines:
            if " job " in line and ("done" in line or "failed" in line):
                seen[line.split(" job ", 1)[1].split()[0]] += 1
    return seen


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def running_job(web, upload: bytes, worker: WorkerProc) -> dict:
    """Upload one photo and wait until a worker has started it (-> the job as the upload answered it)."""
    job = web.post("/api/photos", files={"file": ("grandpa.png", upload, "image/png")}).json()
    deadline = time.monotonic() + 60
    while web.get(job["url"]).json()["status"] != "running":
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)
    return job


def assert_queue_empty(url: str):
    broker = jq.make_broker(url, REDELIVERY_S)
    try:
        assert (jq.waiting(broker), jq.unacknowledged(broker), jq.dead_lettered(broker)) == (0, 0, 0)
    finally:
        broker.close()


@pytest.mark.slow  # `heirloom worker` processes: each loads torch and the model
def test_two_workers_finish_forty_jobs_each_stored_once_across_a_web_restart(tmp_path, tiny_weights, redis_url, caplog):
    data = tmp_path / "data"
    workers = [WorkerProc(redis_url, data, tiny_weights, f"w{i}") for i in (1, 2)]
    try:
        for w in workers:
            w.wait_ready()
        for w in workers:  # hold both while the jobs are queued, so that they start together
            os.kill(w.proc.pid, signal.SIGSTOP)
        uploads = [image_bytes(40 + i, 24 + i % 7) for i in range(40)]
        with client_for(queue_settings(data, redis_url)) as web:
            files = [{"file": (f"p{i}.png", b, "image/png")} for i, b in enumerate(uploads)]
            jobs = [web.post("/api/photos", files=f) for f in files]
            assert [r.status_code for r in jobs] == [202] * 40
            ids = [r.json()["id"] for r in jobs]
            assert jobs[0].headers["location"] == f"/api/jobs/{ids[0]}"
        # A new web server over the same Redis and data directory knows every job and its place.
        with client_for(queue_settings(data, redis_url)) as web:
            states = [web.get(f"/api/jobs/{j}").json() for j in ids]
            assert [s["status"] for s in states] == ["queued"] * 40
            assert [s["position"] for s in states] == list(range(40))
            assert web.get("/healthz").json()["queue"]["waiting"] == 40
            for w in workers:
                os.kill(w.proc.pid, signal.SIGCONT)
            states = list(wait_for(web, ids).values())
            assert [s["status"] for s in states] == ["done"] * 40, [s["error"] for s in states]
            album = web.get("/api/photos", params={"limit": 100}).json()
            assert album["total"] == 40 and sorted(p["id"] for p in album["photos"]) == sorted(ids)
            for i in (0, 17, 39):
                photo = web.get(f"/api/photos/{ids[i]}").json()
                assert photo["name"] == f"p{i}.png" and (photo["width"], photo["height"]) == size_of(uploads[i])
                assert web.get(photo["original_url"]).content == uploads[i]
                assert size_of(web.get(photo["result_url"]).content) == size_of(uploads[i])
            # POST /colorize still answers with the bytes: queued, waited for, forgotten.
            r = web.post("/colorize", files={"file": ("s.png", image_bytes(30, 20), "image/png")})
            assert r.status_code == 200 and r.headers["content-type"] == "image/png" and size_of(r.content) == (30, 20)
        store = JobStore(data)
        records = [store.get(j) for j in ids]
        assert all(r.attempts == 1 and r.collected for r in records)
        by_worker = Counter(r.worker for r in records)
        assert set(by_worker) == {"w1", "w2"}, by_worker  # both did their share
        seen = finished_lines(workers)
        assert all(seen[j] == 1 for j in ids), [j for j in ids if seen[j] != 1]
        assert not any("already done" in line for w in workers for line in w.lines)
        assert_queue_empty(redis_url)
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]  # no race, no 500
    finally:
        for w in workers:
            if w.proc.poll() is None:
                os.kill(w.proc.pid, signal.SIGCONT)
            w.stop()


@pytest.mark.slow  # `heirloom worker` processes: each loads torch and the model
def test_a_worker_killed_mid_job_loses_nothing(tmp_path, tiny_weights, redis_url):
    data = tmp_path / "data"
    first = WorkerProc(redis_url, data, tiny_weights, "first").wait_ready()
    second = None
    try:
        for pid in first.children():  # its engine process (and fork server) hold still: the job stays mid-way
            os.kill(pid, signal.SIGSTOP)
        with client_for(queue_settings(data, redis_url)) as web:
            upload = image_bytes(64, 48)
            job = running_job(web, upload, first)
            first.kill9()
            killed_at = time.monotonic()
            second = WorkerProc(redis_url, data, tiny_weights, "second").wait_ready()
            state = wait_for(web, [job["id"]])[job["id"]]
            assert state["status"] == "done" and state["attempts"] == 2 and state["page_url"] == f"/photos/{job['id']}"
            assert time.monotonic() - killed_at < 60 + 30  # start-up of the second worker + redelivery
            photo = web.get(f"/api/photos/{job['id']}").json()
            assert web.get(photo["original_url"]).content == upload
            assert web.get("/api/photos").json()["total"] == 1
            # A bad photo on the same worker: its header passes the web's check, its pixels do not decode.
            bad = web.post("/api/photos", files={"file": ("torn.png", upload[:80], "image/png")}).json()
            failed = wait_for(web, [bad["id"]])[bad["id"]]
            assert failed["status"] == "failed" and failed["attempts"] == 1
            assert failed["error"]["error"] == "unreadable_image" and failed["error"]["status"] == 415
            assert web.get("/api/photos").json()["total"] == 1  # nothing stored for it
        rec = JobStore(data).get(job["id"])
        assert (rec.worker, rec.attempts) == ("second", 2)
        seen = finished_lines([first, second])
        assert seen[job["id"]] == 1 and seen[bad["id"]] == 1
        assert_queue_empty(redis_url)
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.slow  # `heirloom worker` processes: each loads torch and the model
def test_a_worker_restarted_under_its_name_takes_its_job_back_at_once(tmp_path, tiny_weights, redis_url):
    """With a 60-s redelivery timeout, the job of a worker killed mid-job waits a minute for another worker;
    the same worker restarted (same name: its container came back) takes it back as soon as it is up."""
    data = tmp_path / "data"
    first = WorkerProc(redis_url, data, tiny_weights, "box-1", redelivery_s=60).wait_ready()
    again = None
    try:
        for pid in first.children():
            os.kill(pid, signal.SIGSTOP)
        with client_for(queue_settings(data, redis_url)) as web:
            job = running_job(web, image_bytes(64, 48), first)
            first.kill9()
            again = WorkerProc(redis_url, data, tiny_weights, "box-1", redelivery_s=60).wait_ready()
            ready_at = time.monotonic()
            state = wait_for(web, [job["id"]], timeout_s=50)[job["id"]]
            assert state["status"] == "done" and state["attempts"] == 2
            assert time.monotonic() - ready_at < 20, "waited for the redelivery timeout"
        assert any("restarted" in line for line in again.lines), again.log()
        assert_queue_empty(redis_url)
    finally:
        for w in (first, again):
            if w is not None:
                w.stop()


@pytest.mark.slow  # a `heirloom worker` process: it loads torch and the model
def test_an_engine_process_killed_from_outside_costs_its_photo_nothing(tmp_path, tiny_weights, redis_url):
    """The OOM killer (or an operator) ends the engine process colorizing a photo: the worker runs the photo
    once more on a fresh engine, and it is done, in one attempt, not failed as 'this photo stopped the worker'."""
    data = tmp_path / "data"
    worker = WorkerProc(redis_url, data, tiny_weights, "oom").wait_ready()
    try:
        # The engine processes are the fork server's children, not the worker's own (queue_helpers.children).
        engines = [pid for pid in worker.children() if parent_of(pid) != worker.proc.pid]
        assert engines, worker.children()
        for pid in engines:
            os.kill(pid, signal.SIGSTOP)  # hold it mid-job, so the kill lands while the photo is in hand
        with client_for(queue_settings(data, redis_url)) as web:
            job = running_job(web, image_bytes(64, 48), worker)
            time.sleep(0.3)  # the job has reached the (stopped) engine
            for pid in engines:
                os.kill(pid, signal.SIGKILL)
            state = wait_for(web, [job["id"]], timeout_s=60)[job["id"]]
            assert state["status"] == "done" and state["attempts"] == 1, state
        assert any("trying its photo once more" in line for line in worker.lines), worker.log()
    finally:
        worker.stop()


@pytest.mark.slow  # `heirloom worker` processes: each loads torch and the model
def test_a_photo_that_kills_two_workers_is_failed_not_tried_a_third_time(tmp_path, tiny_weights, redis_url):
    """Both workers hang on the job (their engine processes stopped) and are killed with -9 in turn, as a
    photo that kills whatever takes it would do; the third worker fails it instead of running it."""
    data = tmp_path / "data"
    workers = {n: WorkerProc(redis_url, data, tiny_weights, n) for n in ("a", "b")}
    third = None
    try:
        for w in workers.values():
            w.wait_ready()
            for pid in w.children():
                os.kill(pid, signal.SIGSTOP)
        with client_for(queue_settings(data, redis_url)) as web:
            job = web.post("/api/photos", files={"file": ("deadly.png", image_bytes(), "image/png")}).json()
            store = JobStore(data)
            for attempt in (1, 2):
                deadline = time.monotonic() + 60
                while (rec := store.get(job["id"])).attempts < attempt or rec.status != "running":
                    assert time.monotonic() < deadline, [w.log() for w in workers.values()]
                    time.sleep(0.05)
                assert rec.worker in workers
                workers[rec.worker].kill9()  # the other one gets it back after the redelivery timeout
            third = WorkerProc(redis_url, data, tiny_weights, "c").wait_ready()
            state = wait_for(web, [job["id"]])[job["id"]]
            assert state["status"] == "failed" and state["attempts"] == 3
            assert state["error"]["error"] == "worker_crashed" and state["error"]["status"] == 422
            assert web.get("/api/photos").json()["total"] == 0
        assert any(f"job {job['id']} failed (attempt 3)" in line for line in third.lines)
        assert_queue_empty(redis_url)
    finally:
        for w in [*workers.values(), *([third] if third else [])]:
            w.stop()


# --- the web side alone (Redis, no worker processes): fast ------------------------------------------


@pytest.fixture
def queued_web(tmp_path, redis_url, album_database):
    with client_for(queue_settings(tmp_path / "data", redis_url).with_(database_url=album_database)) as web:
        yield web


def test_a_full_queue_refuses_uploads_with_retry_after_and_says_so(tmp_path, redis_url, album_database):
    settings = queue_settings(tmp_path / "data", redis_url).with_(database_url=album_database, max_queued=2)
    with client_for(settings) as web:
        for name in ("a.png", "b.png"):  # no worker runs: they wait
            assert web.post("/api/photos", files={"file": (name, image_bytes(), "image/png")}).status_code == 202
        r = web.post("/api/photos", files={"file": ("c.png", image_bytes(), "image/png")})
        assert r.status_code == 503 and r.json()["error"] == "busy" and int(r.headers["retry-after"]) > 0
        assert len(JobStore(tmp_path / "data").not_finished()) == 2  # nothing stored for the refused one
        health = web.get("/healthz").json()
        assert health["status"] == "degraded" and any("queue is full" in p for p in health["problems"])


def run_queued_job(data: Path, job_id: str, size=(40, 24)):
    """Do what a worker does with a job, in this process, with a stand-in for the model."""
    from app.serving.consumer import JobRunner
    from app.serving.contract import ModelProfile
    from app.serving.processes import Outcome

    def engine(job):
        return Outcome(image_bytes(*size), "PNG", "PNG", size[0], size[1], image_bytes(20, 12, "JPEG"))

    profile = ModelProfile(32, 32, "cpu", "stand-in.safetensors", "ab" * 32)
    return JobRunner(JobStore(data), engine, profile, "inline")(job_id)


def test_queue_mode_checks_uploads_before_queueing(queued_web, tmp_path):
    web = queued_web
    health = web.get("/healthz")
    assert health.status_code == 200 and health.json() == {  # 200: a missing worker must not restart the web
        "status": "degraded",
        "mode": "queue",
        "model_loaded": False,
        "storage": "ok",
        "queue": {"waiting": 0, "workers": 0},
        "problems": [f"no colorizing worker has reported in the last {REDELIVERY_S:g} s: photos wait until one starts"],
    }
    r = web.post("/api/photos", files={"file": ("x.eps", b"%!PS-Adobe-3.0 EPSF-3.0", "image/png")})
    assert r.status_code == 415 and r.json()["error"] == "unreadable_image"
    from app_helpers import png_bomb

    r = web.post("/api/photos", files={"file": ("bomb.png", png_bomb(), "image/png")})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}, data={"policy": "sideways"})
    assert r.status_code == 422 and r.json()["field"] == "policy"
    assert web.get("/healthz").json()["queue"]["waiting"] == 0  # none of them was queued…
    assert not [
        p for p in (tmp_path / "data" / "jobs").iterdir() if p.name not in ("ready", "unfinished", "tmp")
    ]  # …or stored


@pytest.mark.both_databases
def test_album_jobs_are_followed_and_collected_once(queued_web, tmp_path):
    web, data = queued_web, tmp_path / "data"
    first = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
    second = web.post("/api/photos", files={"file": ("b.png", image_bytes(50, 30), "image/png")}).json()
    assert (first["status"], first["position"], second["position"]) == ("queued", 0, 1)
    assert web.get("/api/jobs/nosuchjob").status_code == 404
    assert run_queued_job(data, first["id"]) == "done"
    state = web.get(first["url"]).json()  # reading the status stores the photo in the album
    assert state["status"] == "done" and state["photo_url"] == f"/api/photos/{first['id']}"
    assert web.get(first["url"]).json()["photo_id"] == first["id"]
    assert web.get("/api/photos").json()["total"] == 1
    assert web.get(f"/api/photos/{first['id']}/original").content == image_bytes()
    assert not (data / "jobs" / first["id"] / "input").exists()  # the album holds the bytes now
    # A re-run is a job too; its result is a new version, the favourite, recording the worker's model.
    rerun = web.post(f"/api/photos/{first['id']}/rerun", data={"saturation": "2"})
    assert rerun.status_code == 202 and rerun.json()["kind"] == "rerun"
    assert rerun.headers["location"] == rerun.json()["url"]
    assert run_queued_job(data, rerun.json()["id"], size=(40, 24)) == "done"
    assert web.get(rerun.json()["url"]).json()["status"] == "done"
    photo = web.get(f"/api/photos/{first['id']}").json()
    assert photo["saturation"] == 2.0 and web.get("/api/photos").json()["total"] == 1
    versions = photo["versions"]
    assert len(versions) == 2 and [v["favorite"] for v in versions].count(True) == 1
    newest = next(v for v in versions if v["favorite"])
    assert (newest["saturation"], newest["model_name"], newest["model_sha256"]) == (
        2.0,
        "stand-in.safetensors",
        "ab" * 32,
    )
    # Storing the same job's result again (a crash before it was marked collected) adds no third version:
    # a re-run job's version id is made from the job's id.
    from app.album.versions import ModelId, Rendering
    from app.serving.queue_client import job_version_id
    from model import ColorizeOptions

    assert newest["id"] == job_version_id(rerun.json()["id"])
    again = Rendering(image_bytes(), "PNG", image_bytes(20, 12, "JPEG"), ColorizeOptions(32), ModelId())
    web.app.state.runtime.storage.add_version(first["id"], again, version_id=newest["id"])
    assert len(web.get(f"/api/photos/{first['id']}/versions").json()["versions"]) == 2
    # A photo deleted while its re-run waits: the re-run's result has nowhere to go, and that is the end of it.
    late = web.post(f"/api/photos/{first['id']}/rerun", data={"saturation": "0.5"}).json()
    assert web.delete(f"/api/photos/{first['id']}").status_code == 204
    assert run_queued_job(data, late["id"]) == "done"
    assert web.get(late["url"]).json()["status"] == "done" and JobStore(data).uncollected() == []
    assert web.get("/api/photos").json()["total"] == 0


@pytest.mark.both_databases
def batch_and_single(web) -> tuple[list[str], str]:
    """Three photos of a batch, then one on its own: -> (the batch's job ids, the single one's)."""
    batch = web.post("/api/batches", json={"names": ["a.png", "b.png", "c.png"]}).json()
    bulk = [
        web.post(
            "/api/photos",
            files={"file": (name, image_bytes(40 + i, 24), "image/png")},
            data={"batch": batch["id"], "position": str(i)},
        ).json()["id"]
        for i, name in enumerate(["a.png", "b.png", "c.png"])
    ]
    single = web.post("/api/photos", files={"file": ("alone.png", image_bytes(), "image/png")}).json()["id"]
    return bulk, single


def test_a_photo_on_its_own_goes_ahead_of_a_batch(queued_web):
    web = queued_web
    bulk, single = batch_and_single(web)
    assert web.get(f"/api/jobs/{single}").json()["position"] == 0  # sent last, first in line
    assert [web.get(f"/api/jobs/{j}").json()["position"] for j in bulk] == [1, 2, 3]
    assert web.get("/healthz").json()["queue"]["waiting"] == 4


@pytest.mark.slow  # a `heirloom worker` process: it loads torch and the model
def test_a_worker_takes_the_photo_on_its_own_before_the_batchs_waiting_photos(tmp_path, tiny_weights, redis_url):
    data = tmp_path / "data"
    worker = WorkerProc(redis_url, data, tiny_weights, "lanes").wait_ready()
    try:
        os.kill(worker.proc.pid, signal.SIGSTOP)  # all four wait in Redis
        with client_for(queue_settings(data, redis_url)) as web:
            bulk, single = batch_and_single(web)
            os.kill(worker.proc.pid, signal.SIGCONT)
            wait_for(web, [*bulk, single])
        store = JobStore(data)
        finished = sorted([*bulk, single], key=lambda j: store.get(j).finished or 0)
        # One batch photo may be in hand already when the worker wakes; the single one comes next at the latest.
        assert finished.index(single) <= 1, [store.get(j).name for j in finished]
    finally:
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGCONT)
        worker.stop()


def test_queued_uploads_of_a_batch_settle_its_items(queued_web, tmp_path):
    """The API's batch protocol in queue mode: each upload names the batch; its job settles its item when
    it is stored or fails, and an upload refused before queueing settles it at once."""
    web, data = queued_web, tmp_path / "data"
    batch = web.post("/api/batches", json={"names": ["a.png", "b.png", "c.png"]}).json()
    jobs = [
        web.post(
            "/api/photos",
            files={"file": (name, image_bytes(), "image/png")},
            data={"batch": batch["id"], "position": str(i)},
        )
        for i, name in enumerate(["a.png", "b.png"])
    ]
    assert [j.status_code for j in jobs] == [202, 202]
    bad = web.post(
        "/api/photos",
        files={"file": ("c.png", b"not an image", "image/png")},
        data={"batch": batch["id"], "position": "2"},
    )
    assert bad.status_code == 415
    r = web.post(
        "/api/photos",
        files={"file": ("d.png", image_bytes(), "image/png")},
        data={"batch": batch["id"], "position": "7"},
    )
    assert r.status_code == 422 and r.json()["field"] == "position"
    state = web.get(batch["url"]).json()
    assert [i["status"] for i in state["items"]] == ["working", "working", "failed"]  # arrived, in line
    assert run_queued_job(data, jobs[0].json()["id"]) == "done"
    assert web.get(jobs[0].json()["url"]).json()["status"] == "done"
    state = web.get(batch["url"]).json()
    assert [i["status"] for i in state["items"]] == ["done", "working", "failed"]
    assert state["items"][0]["photo"]["id"] == jobs[0].json()["id"]
    assert "Colorizing…" in web.get(batch["page_url"]).text


def test_a_no_javascript_upload_of_several_files_is_a_batch_of_jobs(queued_web, tmp_path):
    web = queued_web
    files = [("file", (n, image_bytes(), "image/png")) for n in ("a.png", "b.png")]
    r = web.post("/photos", files=files, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/batches/")
    state = web.get("/api" + r.headers["location"]).json()
    assert state["total"] == 2 and state["waiting"] == 2
    assert len(JobStore(tmp_path / "data").not_finished()) == 2


def test_the_page_follows_a_job_without_javascript(queued_web, tmp_path):
    web = queued_web
    page = web.get("/")
    assert page.status_code == 200 and "not loaded" not in page.text
    r = web.post("/photos", files={"file": ("a.png", image_bytes(), "image/png")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    job_page = web.get(r.headers["location"])
    assert job_page.status_code == 200 and 'http-equiv="refresh"' in job_page.text and "next in line" in job_page.text
    run_queued_job(tmp_path / "data", r.headers["location"].rsplit("/", 1)[1])
    done = web.get(r.headers["location"], follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/photos/")


def test_an_outage_of_redis_is_waited_through_and_a_restart_requeues_its_jobs_in_seconds(tmp_path):
    """Redis away for a while, then back without its data (no appendonly): the job page keeps waiting and
    says the photo is safe, the API answers the job's status all along, and the web side puts the lost
    message back on the queue within seconds of the restart (not at the next minute's round)."""
    data, redis_srv = tmp_path / "data", RedisServer(tmp_path / "redis").start()
    try:
        with client_for(queue_settings(data, redis_srv.url)) as web:
            job = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
            redis_srv.stop()
            outage = time.monotonic()
            state = web.get(f"/api/jobs/{job['id']}")
            assert state.status_code == 200 and state.json()["status"] == "queued"
            assert "your photo is safe" in state.json()["notice"].lower() and state.json()["position"] is None
            page = web.get(f"/jobs/{job['id']}", headers={"accept": "text/html"})
            assert page.status_code == 200 and 'http-equiv="refresh"' in page.text and "photo is safe" in page.text
            refused = web.post("/api/photos", files={"file": ("b.png", image_bytes(), "image/png")})
            assert refused.status_code == 503 and refused.json()["error"] == "queue_unavailable"
            assert refused.headers["retry-after"] == "5"
            busy_page = web.post("/photos", files={"file": ("c.png", image_bytes(), "image/png")})
            assert busy_page.status_code == 503
            health = web.get("/healthz", headers={"accept": "text/html"})  # a page that needs Redis, as HTML:
            assert health.status_code == 503  # JSON for a machine; pages below keep trying by themselves
            batches = web.get("/batches", headers={"accept": "text/html"})
            assert batches.status_code == 200
            time.sleep(max(0.0, 6 - (time.monotonic() - outage)))  # a few seconds of outage
            redis_srv.start()  # empty: the message is gone
            back = time.monotonic()
            broker = jq.make_broker(redis_srv.url, REDELIVERY_S)
            try:
                while jq.waiting(broker) < 1:
                    assert time.monotonic() - back < 15, "the lost job was not queued again within 15 s"
                    time.sleep(0.1)
            finally:
                broker.close()
            assert web.get(f"/api/jobs/{job['id']}").json()["position"] == 0
            assert run_queued_job(data, job["id"]) == "done"
            assert wait_for(web, [job["id"]])[job["id"]]["status"] == "done"
            assert web.get("/api/photos").json()["total"] == 1  # the refused upload left nothing behind
    finally:
        redis_srv.stop()


def test_a_page_that_meets_an_outage_keeps_trying_and_says_the_photos_are_safe(tmp_path):
    from app.error_pages import BUSY_REFRESH_S

    from queue_helpers import free_port

    settings = queue_settings(tmp_path / "data", f"redis://127.0.0.1:{free_port()}/0")  # no Redis there
    with client_for(settings) as web:
        html = {"accept": "text/html"}
        page = web.get("/jobs/" + "0" * 32, headers=html)
        assert page.status_code == 404 and "refresh" not in page.text  # not found is not an outage
        page = web.get("/batches/" + "0" * 32, headers=html)
        assert page.status_code == 404 and "refresh" not in page.text
        posted = web.post("/photos", files={"file": ("a.png", image_bytes(), "image/png")}, headers=html)
        assert posted.status_code == 503 and "refresh" not in posted.text  # a POST is not sent again by itself
        assert "nothing was queued" in posted.text
    from starlette.requests import Request

    from app.error_pages import error_page

    scope = {"type": "http", "method": "GET", "path": "/album", "headers": [], "query_string": b"", "app": web.app}
    busy = error_page(Request(scope), 503, "The album database cannot be reached.", {}).body.decode()
    assert f'http-equiv="refresh" content="{BUSY_REFRESH_S}"' in busy and "Your photos are safe" in busy


@pytest.mark.slow  # a `heirloom worker` process: it loads torch and the model
def test_a_worker_started_before_redis_waits_for_it_and_finishes_the_jobs_redis_lost(tmp_path, tiny_weights):
    data, redis_srv = tmp_path / "data", RedisServer(tmp_path / "redis").start()
    worker = None
    try:
        with client_for(queue_settings(data, redis_srv.url)) as web:
            ids = [
                web.post("/api/photos", files={"file": (f"{i}.png", image_bytes(), "image/png")}).json()["id"]
                for i in range(3)
            ]
            redis_srv.stop()
            worker = WorkerProc(redis_srv.url, data, tiny_weights, "early")
            deadline = time.monotonic() + 120
            while not any("waiting for Redis" in line for line in worker.lines):
                assert time.monotonic() < deadline and worker.proc.poll() is None, worker.log()
                time.sleep(0.1)
            redis_srv.start()  # back, without its data
            back = time.monotonic()
            worker.wait_ready()
            states = wait_for(web, ids, timeout_s=30)
            assert [s["status"] for s in states.values()] == ["done"] * 3
            assert time.monotonic() - back < 15 + 5  # requeued within 15 s, then three tiny photos
        assert_queue_empty(redis_srv.url)
    finally:
        if worker is not None:
            worker.stop()
        redis_srv.stop()


def test_colorize_waits_with_a_bound(tmp_path, redis_url):
    settings = queue_settings(tmp_path / "data", redis_url).with_(wait_timeout_s=0.3)
    with client_for(settings) as web:
        r = web.post("/colorize", files={"file": ("a.png", image_bytes(), "image/png")})
        assert r.status_code == 504 and r.json()["error"] == "timeout" and "/api/jobs/" in r.json()["message"]


def test_without_redis_queue_mode_says_so(tmp_path):
    from queue_helpers import free_port

    settings = queue_settings(tmp_path / "data", f"redis://127.0.0.1:{free_port()}/0")
    with client_for(settings) as web:
        r = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")})
        assert r.status_code == 503 and r.json()["error"] == "queue_unavailable"
        assert JobStore(tmp_path / "data").not_finished() == []  # nothing left to run later
        assert web.get("/healthz").status_code == 503
        assert web.get("/api/photos").status_code == 200  # the album is still there


def two_scans(folder: Path) -> list[str]:
    paths = [folder / name for name in ("first.png", "second.png")]
    for path in paths:
        path.write_bytes(image_bytes(48, 32))
    return [str(path) for path in paths]


@contextlib.contextmanager
def upload_page(url: str):
    """Debian's Chromium on the server's upload page: -> (the page, the page's JavaScript errors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            yield page, errors
        finally:
            browser.close()


STATES = "() => [...document.querySelectorAll('#progress .state')].map(s => s.textContent)"  # the page's rows


def queued_job_ids(data: Path) -> list[str]:
    root = JobStore(data).root
    return [j for j in os.listdir(root) if (root / j / "job.json").exists()]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_upload_page_shows_queued_photos_live(tmp_path, redis_url):
    """A real browser on a real queue-mode server: two uploads get in line, the page shows their places,
    then (a worker's work done here, with a stand-in for the model) the page of the batch they formed."""
    import urllib.request

    from queue_helpers import queue_web_server

    data, scans = tmp_path / "data", two_scans(tmp_path)
    with queue_web_server(redis_url, data) as url, upload_page(url) as (page, errors):
        page.set_input_files("#file", scans)  # picking starts the upload
        page.wait_for_function(
            f"() => ({STATES})().sort().join('|') === 'In line: 1 before it|Next in line'", timeout=20_000
        )
        job_ids = queued_job_ids(data)
        assert len(job_ids) == 2
        for job_id in job_ids:
            assert run_queued_job(data, job_id) == "done"
        # Both stored: the two uploads formed a batch, whose page the upload page goes to.
        page.wait_for_url("**/batches/*", timeout=20_000)
        path = page.url.removeprefix(url)
        with urllib.request.urlopen(url + "/api" + path, timeout=5) as r:
            batch = json.load(r)
        assert batch["done"] == 2 and {i["photo"]["id"] for i in batch["items"]} == set(job_ids)
        assert not errors


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_upload_page_waits_through_redis_outages_and_never_says_failed(tmp_path):
    """Redis goes away as the photos are sent, and again while they wait: the page says they are safe,
    sends them again by itself (same Idempotency-Key: stored once), and shows them done after."""
    from queue_helpers import queue_web_server

    data, scans, redis_srv = tmp_path / "data", two_scans(tmp_path), RedisServer(tmp_path / "redis").start()
    try:
        with queue_web_server(redis_srv.url, data) as url, upload_page(url) as (page, errors):
            redis_srv.stop()
            page.set_input_files("#file", scans)  # picking starts the upload: into the outage
            page.wait_for_function(
                f"() => ({STATES})().length === 2 && ({STATES})().every(t => t.includes('photo is safe'))",
                timeout=20_000,
            )
            assert "trying again" in page.eval_on_selector("#progress .state", "e => e.textContent")
            assert page.locator("#progress li.failed").count() == 0
            redis_srv.start()  # the page's next try goes through
            page.wait_for_function(
                f"() => ({STATES})().sort().join('|') === 'In line: 1 before it|Next in line'", timeout=30_000
            )
            redis_srv.stop()  # and away again while they wait
            page.wait_for_function(f"() => ({STATES})().every(t => t.includes('photo is safe'))", timeout=20_000)
            assert page.locator("#progress li.failed").count() == 0
            redis_srv.start()
            job_ids = queued_job_ids(data)
            assert len(job_ids) == 2  # each photo queued once, however often it was sent
            for job_id in job_ids:
                assert run_queued_job(data, job_id) == "done"
            page.wait_for_url("**/batches/*", timeout=30_000)
            assert page.locator("#progress li.failed").count() == 0 and not errors
    finally:
        redis_srv.stop()


def test_the_web_side_of_queue_mode_loads_neither_model_nor_torch(tmp_path, redis_url):
    """Its own process: this one has long imported torch for other tests."""
    import subprocess
    import sys

    from queue_helpers import REPO

    script = f"""
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from app_helpers import client_for, image_bytes, settings_for
settings = settings_for(Path({str(tmp_path / "data")!r}), None, broker_url={redis_url!r}, load_model=False)
with client_for(settings) as web:
    assert web.post("/api/photos", files={{"file": ("a.png", image_bytes(), "image/png")}}).status_code == 202
    assert web.get("/").status_code == 200
print(sorted(m for m in ("torch", "cv2", "model.pipeline") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_jobs_that_redis_lost_are_queued_again(tmp_path, redis_url):
    """Redis restarted without its data (or flushed): the job records on the data directory are the truth."""
    import redis

    data = tmp_path / "data"
    with client_for(queue_settings(data, redis_url)) as web:
        job = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
        done = web.post("/api/photos", files={"file": ("b.png", image_bytes(), "image/png")}).json()
        assert run_queued_job(data, done["id"]) == "done"
        redis.Redis.from_url(redis_url).flushall()
        assert web.get(job["url"]).json()["position"] == 0  # (not in Redis: counted as about to start)
        client = web.app.state.runtime.backend.client
        assert client.requeue_lost(min_age_s=0) == [job["id"]]  # the finished one is left alone
        assert client.requeue_lost(min_age_s=0) == []  # known to Redis again
        assert web.get("/healthz").json()["queue"]["waiting"] == 1
        assert run_queued_job(data, job["id"]) == "done" and web.get(job["url"]).json()["status"] == "done"


@pytest.mark.slow  # a `heirloom worker` process: it loads torch and the model
def test_hints_in_queue_mode_give_what_one_process_gives_and_are_recorded(tmp_path, redis_url):
    """The same photo and hints through a worker and through the single-process server: the same bytes; a
    re-run's version records its hints; a worker's model without a hint input is told at the door (422)."""
    import json

    from engine_helpers import tiny_weights as write_weights

    hinted = write_weights(tmp_path / "hinted.safetensors", hints=True)
    hints = json.dumps([{"x": 0.3, "y": 0.6, "color": "#b03a3a", "radius": 0.08}])
    upload = image_bytes(64, 48, mode="RGB")
    files = {"file": ("p.png", upload, "image/png")}
    with client_for(settings_for(tmp_path / "single", hinted)) as single:
        expected = single.post("/colorize", files=files, data={"hints": hints})
        assert expected.status_code == 200
        assert single.post("/colorize", files=files).content != expected.content
    data = tmp_path / "data"
    worker = WorkerProc(redis_url, data, hinted, "hinted").wait_ready()
    try:
        with client_for(queue_settings(data, redis_url)) as web:
            got = web.post("/colorize", files=files, data={"hints": hints})
            assert got.status_code == 200 and got.content == expected.content
            bad = web.post("/colorize", files=files, data={"hints": '[{"x": 3, "y": 0, "color": "#000000"}]'})
            assert bad.status_code == 422 and bad.json()["field"] == "hints"
            job = web.post("/api/photos", files=files).json()
            wait_for(web, [job["id"]])
            rerun = web.post(f"/api/photos/{job['id']}/rerun", data={"hints": hints}).json()
            assert wait_for(web, [rerun["id"]])[rerun["id"]]["status"] == "done"
            versions = web.get(f"/api/photos/{job['id']}").json()["versions"]
            assert [v["hints"] for v in versions] == [[], json.loads(hints)]
            for side in (480, 960, 1920):  # the worker made the browser-viewable previews too
                assert web.get(f"/api/photos/{job['id']}/original/preview/{side}").status_code == 200
                assert web.get(f"{versions[1]['url']}/preview/{side}").status_code == 200
            assert "srcset" in web.get(f"/photos/{job['id']}", headers={"accept": "text/html"}).text
            assert not list((data / "jobs" / job["id"]).glob("preview-*")), "the job's copies go once stored"
            preview = web.post(f"/api/photos/{job['id']}/preview", data={"hints": hints})
            assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
            offered = web.get(f"/api/photos/{job['id']}/suggestions", params={"x": 0.5, "y": 0.5})
            assert offered.status_code == 501 and "Choose any colour" in offered.json()["message"]
    finally:
        worker.stop()
    plain = WorkerProc(redis_url, tmp_path / "plain", write_weights(tmp_path / "plain.safetensors"), "plain")
    try:
        plain.wait_ready()
        with client_for(queue_settings(tmp_path / "plain", redis_url)) as web:
            deadline = time.monotonic() + 30
            while True:  # the web side learns the model's profile from the worker's announcement
                r = web.post("/colorize", files=files, data={"hints": hints})
                if r.status_code == 422 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 422 and "no hint input" in r.json()["message"]
    finally:
        plain.stop()
