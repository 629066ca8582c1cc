"""The web side of queue mode against a real redis-server, each job run in this process with a stand-in
for the model (queue_helpers.run_queued_job): uploads checked before queueing, a full queue, albums,
batches, pages without JavaScript, lost jobs queued again, no torch in the web process."""

from __future__ import annotations

import pytest

from app.serving.job_store import JobStore

from app_helpers import client_for, image_bytes
from queue_helpers import (
    REDELIVERY_S,
    batch_and_single,
    needs_redis,
    queue_settings,
    run_queued_job,
)

pytestmark = needs_redis


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


def test_a_photo_on_its_own_goes_ahead_of_a_batch(queued_web):
    web = queued_web
    bulk, single = batch_and_single(web)
    assert web.get(f"/api/jobs/{single}").json()["position"] == 0  # sent last, first in line
    assert [web.get(f"/api/jobs/{j}").json()["position"] for j in bulk] == [1, 2, 3]
    assert web.get("/healthz").json()["queue"]["waiting"] == 4


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
