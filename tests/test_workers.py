"""Worker processes (issue 9): a crash or a hang in a worker costs one request, never the server."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from app.serving.job_work import WorkerSpec
from app.serving.processes import Job, JobTimeout, ProcessPool, WorkerCrashed
from model import UnreadableImage, WorkTooLarge
from model.errors import OutOfMemory
from model.options import ColorizeOptions

from app_helpers import client_for, image_bytes, settings_for


@pytest.fixture
def pool(tiny_weights):
    p = ProcessPool(WorkerSpec(str(tiny_weights), "cpu", torch_threads=1), workers=1, timeout_s=3.0)
    p.start()
    yield p
    p.close()


def job(w=40, h=24, **opts) -> Job:
    return Job(image_bytes(w, h), ColorizeOptions(32, multiple=8, **opts))


def wait_busy(pool: ProcessPool) -> int:
    for _ in range(500):
        if pool.busy_pids():
            return pool.busy_pids()[0]
        time.sleep(0.002)
    raise AssertionError("the job never reached a worker")


def test_a_job_runs_in_another_process(pool):
    out = pool.run(job(45, 30))
    assert (out.width, out.height, out.format) == (45, 30, "PNG") and out.thumb
    assert pool.pids() and os.getpid() not in pool.pids()


def test_typed_errors_cross_the_pipe(pool):
    with pytest.raises(UnreadableImage, match="not an image"):
        pool.run(Job(b"not an image", ColorizeOptions(32)))
    tight = ProcessPool(WorkerSpec(pool.spec.weights, "cpu", max_work_bytes=64 * 2**20), 1, 10.0)
    try:
        with pytest.raises(WorkTooLarge, match="limit for one photo is 64 MB"):
            tight.run(Job(image_bytes(4000, 1000), ColorizeOptions(32)))
    finally:
        tight.close()
    assert pool.run(job()).width == 40  # the worker is still there


def _in_thread(fn, *args):
    box: dict = {}

    def go():
        try:
            box["value"] = fn(*args)
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=go)
    t.start()
    return t, box


def wait_busy_other_than(pool: ProcessPool, pid: int) -> int:
    """The busy child's pid once it is not `pid` and has loaded its model (the fresh child a retried job
    runs on; killed while loading it would be a start-up failure instead)."""
    for _ in range(30000):
        busy = list(pool._busy.values())
        if busy and busy[0].pid not in (None, pid) and busy[0].started_at > 0 and busy[0].alive:
            return busy[0].pid
        time.sleep(0.002)
    raise AssertionError("the job never reached a fresh worker")


def test_a_worker_killed_from_outside_runs_its_photo_again_on_a_fresh_one(pool):
    """SIGKILL comes from outside (the OOM killer, an operator): the photo is not to blame, so it runs once more."""
    first = pool.pids()[0]
    t, box = _in_thread(pool.run, job(400, 300))
    os.kill(wait_busy(pool), signal.SIGKILL)  # mid-request
    t.join(60)
    assert "error" not in box, box.get("error")
    assert box["value"].width == 400
    assert pool.pids() and pool.pids()[0] != first and pool.restarts == 1


def kill_twice(pool: ProcessPool) -> dict:
    t, box = _in_thread(pool.run, job(400, 300))
    first = wait_busy(pool)
    os.kill(first, signal.SIGKILL)
    os.kill(wait_busy_other_than(pool, first), signal.SIGKILL)  # the retry's fresh child too
    t.join(60)
    return box


def test_a_photo_whose_worker_is_killed_twice_fails_and_the_next_gets_a_fresh_one(pool):
    box = kill_twice(pool)
    assert type(box.get("error")) is WorkerCrashed and "killed from outside twice" in str(box["error"])
    assert pool.run(job()).width == 40  # the next photo gets a fresh worker
    assert pool.restarts == 2


def test_killed_twice_while_the_kernel_counts_oom_kills_says_out_of_memory(pool, monkeypatch):
    from app.serving import processes

    counts = iter(range(100))
    monkeypatch.setattr(processes, "oom_kills", lambda: next(counts))  # the counter moves: the OOM killer
    box = kill_twice(pool)
    assert isinstance(box.get("error"), OutOfMemory) and "ran out of memory" in str(box["error"])


def test_a_crash_is_the_photos_doing_and_is_not_retried(pool):
    first = pool.pids()[0]
    t, box = _in_thread(pool.run, job(400, 300))
    os.kill(wait_busy(pool), signal.SIGSEGV)  # what a codec's bug does: not retried
    t.join(30)
    assert isinstance(box.get("error"), WorkerCrashed) and "SIGSEGV" in str(box["error"])
    assert pool.pids() == [] or pool.pids()[0] != first  # the dead child is gone
    assert pool.run(job()).width == 40 and pool.restarts == 1


def test_hung_worker_times_out_and_is_replaced(pool):
    first = pool.pids()[0]
    os.kill(first, signal.SIGSTOP)  # a hang in native code, as far as the parent can tell
    started = time.monotonic()
    with pytest.raises(JobTimeout, match="limit of 3 s"):
        pool.run(job())
    assert time.monotonic() - started < 10
    assert pool.run(job()).width == 40 and pool.pids()[0] != first


# --- the same over HTTP ----------------------------------------------------------------------


def post(c, data):
    return c.post("/api/photos", files={"file": ("scan.png", data, "application/octet-stream")})


def test_http_worker_killed_mid_request_still_answers_the_photo(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        processes = c.app.state.runtime.backend.processes
        t, box = _in_thread(post, c, image_bytes(400, 300))
        os.kill(wait_busy(processes), signal.SIGKILL)
        t.join(60)
        assert box["value"].status_code == 201, box["value"].text
        assert c.app.state.runtime.storage.count() == 1


def test_http_worker_killed_twice_fails_the_photo_then_next_succeeds(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        processes = c.app.state.runtime.backend.processes
        t, box = _in_thread(post, c, image_bytes(400, 300))
        first = wait_busy(processes)
        os.kill(first, signal.SIGKILL)
        os.kill(wait_busy_other_than(processes, first), signal.SIGKILL)
        t.join(60)
        r = box["value"]
        assert r.status_code == 422 and r.json()["error"] == "worker_crashed", r.text
        assert "not stored" in r.json()["message"]
        assert c.app.state.runtime.storage.count() == 0
        assert post(c, image_bytes()).status_code == 201  # same client, same connection pool
        assert c.get("/healthz").json()["model_loaded"] is True


def test_http_hang_gives_504_and_frees_the_worker(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights, request_timeout_s=2.0)) as c:
        processes = c.app.state.runtime.backend.processes
        os.kill(processes.pids()[0], signal.SIGSTOP)
        r = post(c, image_bytes())
        assert r.status_code == 504 and r.json()["error"] == "timeout" and "2 s" in r.json()["message"]
        assert post(c, image_bytes()).status_code == 201


def test_each_worker_caps_its_own_address_space(pool):
    pid = pool.pids()[0]
    with open(f"/proc/{pid}/limits") as f:
        line = next(ln for ln in f if ln.startswith("Max address space"))
    soft = line.split()[3]
    assert soft != "unlimited" and int(soft) >= pool.spec.max_work_bytes  # model + budget + slack


def test_typed_errors_survive_the_wire():
    from app.serving.processes import error_from_wire, error_to_wire
    from model import HeirloomError, InvalidOption

    e = error_from_wire(error_to_wire(InvalidOption("render_size", "too big")))
    assert isinstance(e, InvalidOption) and e.field == "render_size" and str(e) == "too big"
    assert isinstance(error_from_wire(error_to_wire(WorkTooLarge("x"))), WorkTooLarge)
    unknown = error_from_wire(("SomethingNewer", "from a newer worker", None))
    assert type(unknown) is HeirloomError and str(unknown) == "from a newer worker"
    assert type(error_from_wire(("Exception", "not ours", None))) is HeirloomError
