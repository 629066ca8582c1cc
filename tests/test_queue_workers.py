"""Queue mode with real `heirloom worker` processes (the tiny model) against a real redis-server: many
jobs on two workers across a web restart, workers and engine processes killed mid-job, a photo that kills
workers, the order of waiting photos, hints. Skipped, saying why, where redis-server is not installed."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter

import pytest

from app.serving.job_store import JobStore

from app_helpers import client_for, image_bytes, settings_for, size_of
from queue_helpers import (
    WorkerProc,
    assert_queue_empty,
    batch_and_single,
    finished_lines,
    needs_redis,
    parent_of,
    queue_settings,
    running_job,
    wait_for,
)

pytestmark = needs_redis


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
