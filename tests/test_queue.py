"""Queue mode without Redis: the job store's rules, a worker's handling of one message, the web side's
cheap checks and settings. The same code against real redis-server and workers:
test_queue_workers.py, test_queue_web.py, test_queue_outages.py and test_queue_page.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.serving.consumer import MAX_ATTEMPTS, JobRunner
from app.serving.contract import ModelProfile
from app.serving.job_store import DONE, FAILED, QUEUED, RUNNING, JobRecord, JobResult, JobStore, Request
from app.serving.processes import Outcome
from model.errors import ImageTooLarge, UnreadableImage, WorkerCrashed
from model.header_check import check_header

from app_helpers import image_bytes, png_bomb

PROFILE = ModelProfile(render_size=32, multiple=32)
RESULT = JobResult("PNG", "PNG", 40, 24, 32, "pad-reflect", 1.0)


def test_a_job_is_stored_whole_and_survives_a_new_store(tmp_path: Path):
    store = JobStore(tmp_path)
    rec = store.create("add", b"upload bytes", Request(64, "stretch", 1.5, None), name="grandma.jpg")
    again = JobStore(tmp_path).get(rec.id)  # another process (a restarted web server) reads the same record
    assert again == rec and again.status == QUEUED and again.request == Request(64, "stretch", 1.5, None)
    assert JobStore(tmp_path).input(rec.id) == b"upload bytes"
    assert not list(store.staging.iterdir())  # nothing half-written left behind


def test_a_result_is_stored_once_and_a_finished_job_never_changes(tmp_path: Path):
    store = JobStore(tmp_path)
    rec = store.create("add", b"x", Request())
    started = store.start(rec.id, "w1")
    assert started is not None and started.status == RUNNING and started.attempts == 1
    assert store.finish(rec.id, RESULT, b"first result", b"thumb")
    assert not store.finish(rec.id, RESULT, b"second result", b"thumb2")  # a redelivered copy: discarded
    assert not store.fail(rec.id, ("UnreadableImage", "late failure", None))
    assert store.start(rec.id, "w2") is None  # a redelivery after the result: nothing to run
    done = store.get(rec.id)
    assert done.status == DONE and done.attempts == 1 and done.worker == "w1" and done.error is None
    assert store.result_path(done).read_bytes() == b"first result"
    assert store.uncollected() == [rec.id]  # an album job waits for the web side
    stored: list[str] = []
    assert store.collect(rec.id, lambda r: stored.append(r.id) or "photo-1").photo_id == "photo-1"
    assert store.collect(rec.id, lambda r: stored.append(r.id) or "photo-2").photo_id == "photo-1"
    assert stored == [rec.id] and store.uncollected() == [] and store.get(rec.id).collected


def test_two_collectors_at_once_store_a_job_once(tmp_path: Path):
    """A status request and the collecting loop (or two web servers) reach the same finished job together."""
    import threading
    import time

    store = JobStore(tmp_path)
    rec = store.create("add", b"x", Request())
    store.start(rec.id, "w1")
    store.finish(rec.id, RESULT, b"r", b"t")
    calls: list[int] = []

    def slow_store(r: JobRecord) -> str:
        calls.append(1)
        time.sleep(0.2)  # long enough for the other thread to arrive
        return "photo"

    threads = [threading.Thread(target=store.collect, args=(rec.id, slow_store)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and store.get(rec.id).photo_id == "photo"


def test_ids_never_become_other_paths(tmp_path: Path):
    from app.serving.job_store import JobNotFound

    store = JobStore(tmp_path)
    for bad in ("", "../../etc", "a/b", "ready", "tmp", "é" * 30, "x" * 65):
        with pytest.raises(JobNotFound):
            store.get(bad)


def test_job_records_round_trip_through_json():
    rec = JobRecord("abc", "rerun", 1.5, FAILED, "n", "p", Request(32), False, 2, "w", "m", 2.0, 3.0, RESULT,
                    ("InvalidOption", "bad", "policy"), True)  # fmt: skip
    assert JobRecord.from_json(rec.to_json()) == rec


class FakeEngine:
    def __init__(self, fail: Exception | None = None):
        self.calls: list[bytes] = []
        self.fail = fail

    def __call__(self, job) -> Outcome:
        self.calls.append(job.data)
        if self.fail is not None:
            raise self.fail
        return Outcome(b"colour", "PNG", "PNG", 40, 24, b"thumb" if job.thumbnail else b"")


def test_a_bad_photo_fails_once_with_its_typed_error(tmp_path: Path):
    store = JobStore(tmp_path)
    engine = FakeEngine(UnreadableImage("The image is truncated or damaged and cannot be decoded."))
    rec = store.create("add", b"broken", Request())
    assert JobRunner(store, engine, PROFILE, "w1")(rec.id) == "failed"
    assert JobRunner(store, engine, PROFILE, "w1")(rec.id) == "skipped"  # redelivered: not tried again
    failed = store.get(rec.id)
    assert failed.status == FAILED and failed.attempts == 1 and len(engine.calls) == 1
    assert failed.error == ("UnreadableImage", "The image is truncated or damaged and cannot be decoded.", None)


def test_options_are_resolved_by_the_workers_model(tmp_path: Path):
    store = JobStore(tmp_path)
    good = store.create("add", b"x", Request(None, None, 0.5, None))
    bad = store.create("add", b"x", Request(48, None, None, None))  # not a multiple of the model's 32
    runner = JobRunner(store, FakeEngine(), PROFILE, "w1")
    assert runner(good.id) == "done" and runner(bad.id) == "failed"
    result = store.get(good.id).result
    assert result is not None and (result.render_size, result.policy, result.saturation) == (32, "pad-reflect", 0.5)
    assert store.get(bad.id).error[:1] == ("InvalidOption",)
    assert store.get(bad.id).error[2] == "render_size"


def test_a_photo_that_kills_its_worker_is_tried_at_most_twice(tmp_path: Path):
    """Each start of a job counts; a worker killed mid-job never finishes it. The start after
    MAX_ATTEMPTS unfinished ones fails the job instead of running it again."""
    store = JobStore(tmp_path)
    rec = store.create("add", b"deadly", Request())
    for n in range(MAX_ATTEMPTS):  # the workers that started it died before they stored anything
        assert store.start(rec.id, f"w{n}") is not None
    engine = FakeEngine()
    assert JobRunner(store, engine, PROFILE, "w9")(rec.id) == "failed"
    failed = store.get(rec.id)
    assert engine.calls == [] and failed.status == FAILED and failed.attempts == MAX_ATTEMPTS + 1
    assert failed.error is not None and failed.error[0] == WorkerCrashed.__name__


def test_a_worker_killed_once_still_gets_the_job_done(tmp_path: Path):
    store = JobStore(tmp_path)
    rec = store.create("add", b"x", Request())
    store.start(rec.id, "killed")  # started, never finished
    assert JobRunner(store, FakeEngine(), PROFILE, "w2")(rec.id) == "done"
    assert store.get(rec.id).attempts == 2 and store.get(rec.id).worker == "w2"


def test_cheap_checks_read_only_the_header():
    assert check_header(image_bytes(40, 24, "PNG"), 10_000) == "PNG"
    assert check_header(image_bytes(40, 24, "JPEG"), 10_000) == "JPEG"
    with pytest.raises(ImageTooLarge):
        check_header(png_bomb(), 100_000_000)  # 10^10 pixels claimed; nothing decoded
    with pytest.raises(ImageTooLarge):
        check_header(image_bytes(40, 24, "PNG"), 500)
    with pytest.raises(UnreadableImage):
        check_header(b"%!PS-Adobe-3.0 EPSF-3.0\n{ } loop", 10_000)
    with pytest.raises(UnreadableImage):
        check_header(b"\x89PNG\r\n\x1a\n" + b"\0" * 20, 10_000)  # a PNG whose header is damaged
    truncated = image_bytes(40, 24, "PNG")[:60]
    assert check_header(truncated, 10_000) == "PNG"  # the header is whole: the worker finds the rest missing


def test_serve_takes_a_broker_url(monkeypatch):
    from app.server import parse
    from app.settings import Settings

    monkeypatch.delenv("HEIRLOOM_BROKER_URL", raising=False)
    settings, _ = parse(["--broker", "redis://127.0.0.1:6379/0"])
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert parse([])[0].broker_url is None
    assert Settings.from_env({"HEIRLOOM_BROKER_URL": "redis://r:6379/1"}).broker_url == "redis://r:6379/1"
    with pytest.raises(ValueError, match="broker URL"):
        Settings.from_env({"HEIRLOOM_BROKER_URL": "amqp://rabbit"})


def test_worker_needs_a_broker(capsys):
    from app.serving.consumer import parse

    with pytest.raises(SystemExit):
        parse([])
    assert "--broker" in capsys.readouterr().err
    s = parse(["--broker", "redis://h:1/0", "--workers", "2", "--redelivery", "5"])
    assert (s.broker_url, s.workers, s.redelivery_s) == ("redis://h:1/0", 2, 5.0)


def test_the_single_process_server_has_no_job_routes(client):
    assert client.get("/api/jobs/abc").status_code == 404
    assert "mode" not in client.get("/healthz").json()


def test_only_workers_judge_workers_and_every_heartbeat_does():
    """A dead worker's job comes back within 1.25 × the redelivery timeout because each live worker's
    heartbeat looks for dead ones; the web side, whose timeout could differ, never looks."""
    from app.serving import broker as jq

    worker = jq.make_broker("redis://127.0.0.1:1/0", 30, judge=True)  # no connection is made here
    web = jq.make_broker("redis://127.0.0.1:1/0", 30)
    assert worker._should_do_maintenance(jq.HEARTBEAT_COMMAND) == 1
    assert all(
        web._should_do_maintenance(c) == 0 for c in (jq.HEARTBEAT_COMMAND, "enqueue", "fetch") for _ in range(50)
    )
    assert worker.heartbeat_timeout == 30_000


def test_a_worker_without_weights_says_so(tmp_path, capsys):
    from app.serving.consumer import main

    code = main(["--broker", "redis://127.0.0.1:1/0", "--data-dir", str(tmp_path), "--weights", str(tmp_path / "no")])
    assert code == 2 and "No weights file" in capsys.readouterr().err


def test_serve_and_worker_share_one_settings_tree_and_the_readme_table_is_made_from_it(monkeypatch):
    """Each variable is read once, with one default, by `serve` and by `worker` alike."""
    from pathlib import Path

    from app.server import parse as serve_parse
    from app.serving.consumer import parse as worker_parse
    from app.settings import VARIABLES, Settings, markdown_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert markdown_table() in readme, "README's table of variables is stale: paste app.settings.markdown_table()"
    env = {
        "HEIRLOOM_BROKER_URL": "redis://r:1/0",
        "HEIRLOOM_WORKERS": "3",
        "HEIRLOOM_MAX_REQUEST_MB": "700",
        "HEIRLOOM_REDELIVERY_S": "12",
        "HEIRLOOM_REQUEST_TIMEOUT": "9",
        "HEIRLOOM_WORKER_NAME": "w1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    served, _ = serve_parse([])
    worked = worker_parse([])
    assert served == worked == Settings.from_env(env)
    assert (worked.workers, worked.work_bytes, worked.redelivery_s, worked.worker_name) == (3, 700 * 2**20, 12.0, "w1")
    for k in env:
        monkeypatch.delenv(k)
    monkeypatch.setenv("HEIRLOOM_BROKER_URL", "redis://r:1/0")
    defaults = worker_parse([])
    assert (defaults.workers, defaults.work_bytes, defaults.threads) == (
        serve_parse([])[0].workers,
        serve_parse([])[0].work_bytes,
        serve_parse([])[0].threads,
    )  # one default each (the worker had its own: 1 process, 6 GB)
    assert len({v.name for v in VARIABLES}) == len(VARIABLES) and all(v.name.startswith("HEIRLOOM_") for v in VARIABLES)
