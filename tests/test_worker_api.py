"""Workers on another machine (issue 24, item 7): the worker API behind its own token, a worker that
reaches the job store over HTTP with no shared data directory, and secrets read from files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.serving.contract import JobResult
from app.serving.job_store import JobStore
from app.serving.remote_jobs import RemoteJobStore, ServerUnreachable, _multipart
from app.serving.worker_wire import result_to_json
from app.settings import Settings

from app_helpers import client_for, image_bytes, size_of
from queue_helpers import WorkerProc, needs_redis, queue_settings, queue_web_server

WORKER_TOKEN = "worker-token-0123456789"
USER_TOKEN = "family-token-abcdefgh"


def queue_web(data: Path, url: str, **kw):
    return client_for(queue_settings(data, url).with_(**kw))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@needs_redis
def test_the_worker_api_opens_to_the_worker_token_only(tmp_path, redis_url):
    with queue_web(tmp_path / "closed", redis_url) as web:  # no HEIRLOOM_WORKER_TOKEN: closed
        r = web.get("/api/worker/jobs/" + "0" * 32, headers=bearer(WORKER_TOKEN))
        assert r.status_code == 401 and "HEIRLOOM_WORKER_TOKEN" in r.json()["message"]
    with queue_web(tmp_path / "open", redis_url, token=USER_TOKEN, worker_token=WORKER_TOKEN) as web:
        job = web.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}, headers=bearer(USER_TOKEN))
        assert job.status_code == 202
        path = f"/api/worker/jobs/{job.json()['id']}"
        assert web.get(path, headers=bearer(USER_TOKEN)).status_code == 401  # a family's token is not a worker's
        assert web.get(path).status_code == 401
        assert web.get("/api/photos", headers=bearer(WORKER_TOKEN)).status_code == 401  # nor the other way round
        r = web.get(path, headers=bearer(WORKER_TOKEN))
        assert r.status_code == 200 and r.json()["status"] == "queued"
        assert web.get("/api/worker/jobs/" + "0" * 32, headers=bearer(WORKER_TOKEN)).status_code == 404
        assert "/api/worker/jobs/{job_id}" not in web.app.openapi()["paths"]  # not for families' eyes


@needs_redis
def test_a_job_done_through_the_worker_api_lands_in_the_album(tmp_path, redis_url):
    """What RemoteJobStore sends, through the routes: start, input, finish; the web side collects it."""
    data = tmp_path / "web"
    with queue_web(data, redis_url, worker_token=WORKER_TOKEN) as web:
        upload = image_bytes(40, 24)
        job_id = web.post("/api/photos", files={"file": ("g.png", upload, "image/png")}).json()["id"]
        base, auth = f"/api/worker/jobs/{job_id}", bearer(WORKER_TOKEN)
        rec = web.post(f"{base}/start", json={"worker": "far-away"}, headers=auth).json()
        assert rec["status"] == "running" and rec["attempts"] == 1 and rec["worker"] == "far-away"
        assert web.get(f"{base}/input", headers=auth).content == upload
        result = JobResult("PNG", "PNG", 40, 24, 32, "pad-reflect", 1.0, "m.safetensors", "ab" * 32, "", ("480",))
        body, kind = _multipart(
            {"result": json.dumps(result_to_json(result))},
            [("data", image_bytes(40, 24)), ("thumb", image_bytes(20, 12, "JPEG")), ("preview-480", b"jpeg")],
        )
        r = web.post(f"{base}/finish", content=body, headers={**auth, "content-type": kind})
        assert r.status_code == 200 and r.json() == {"stored": True}
        again = web.post(f"{base}/finish", content=body, headers={**auth, "content-type": kind})
        assert again.json() == {"stored": False}  # a redelivered job's second result is not stored
        assert web.post(f"{base}/start", json={"worker": "x"}, headers=auth).json() is None  # finished: skip
        deadline = time.monotonic() + 10
        while web.get(f"/api/jobs/{job_id}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        photo = web.get(f"/api/photos/{job_id}").json()
        assert size_of(web.get(photo["result_url"]).content) == (40, 24)
        assert web.get(photo["original_url"]).content == upload
        # A failed job's typed error travels the same way and reaches the page.
        bad = web.post("/api/photos", files={"file": ("b.png", image_bytes(), "image/png")}).json()["id"]
        web.post(f"/api/worker/jobs/{bad}/start", json={"worker": "far-away"}, headers=auth)
        error = ["UnreadableImage", "This file is not an image.", None]
        assert web.post(f"/api/worker/jobs/{bad}/fail", json={"error": error}, headers=auth).json() == {"stored": True}
        state = web.get(f"/api/jobs/{bad}").json()
        assert state["status"] == "failed" and state["error"]["error"] == "unreadable_image"


def test_a_remote_store_that_cannot_reach_its_server_says_so_after_its_patience(tmp_path):
    from queue_helpers import free_port

    store = RemoteJobStore(f"http://127.0.0.1:{free_port()}", WORKER_TOKEN, patience_s=1.0)
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match="no answer for 1 s"):
        store.input("0" * 32)
    assert 1.0 <= time.monotonic() - started < 10


def test_secrets_come_from_files_and_a_remote_worker_needs_its_token(tmp_path):
    secret = tmp_path / "token"
    secret.write_text(WORKER_TOKEN + "\n")
    s = Settings.from_env({"HEIRLOOM_WORKER_TOKEN_FILE": str(secret), "HEIRLOOM_SERVER_URL": "http://web:8000"})
    assert (s.worker_token, s.server_url) == (WORKER_TOKEN, "http://web:8000")
    with pytest.raises(ValueError, match="both HEIRLOOM_TOKEN and HEIRLOOM_TOKEN_FILE"):
        Settings.from_env({"HEIRLOOM_TOKEN_FILE": str(secret), "HEIRLOOM_TOKEN": USER_TOKEN})
    with pytest.raises(ValueError, match="HEIRLOOM_DATABASE_URL_FILE: cannot read"):
        Settings.from_env({"HEIRLOOM_DATABASE_URL_FILE": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="needs the web side's HEIRLOOM_WORKER_TOKEN"):
        Settings.from_env({"HEIRLOOM_SERVER_URL": "http://web:8000"})
    with pytest.raises(ValueError, match="worker token .* at least 12"):
        Settings.from_env({"HEIRLOOM_WORKER_TOKEN": "short"})


@needs_redis
@pytest.mark.slow  # a real web server and a `heirloom worker` process (torch, the model)
def test_a_worker_with_its_own_data_directory_colorizes_through_the_web_server(tmp_path, tiny_weights, redis_url):
    web_data, worker_data = tmp_path / "web", tmp_path / "worker-machine"
    worker = None
    with queue_web_server(redis_url, web_data, HEIRLOOM_WORKER_TOKEN=WORKER_TOKEN) as url:
        worker = WorkerProc(
            redis_url,
            worker_data,
            tiny_weights,
            "remote",
            extra=("--server-url", url),
            env={"HEIRLOOM_WORKER_TOKEN": WORKER_TOKEN},
        )
        try:
            worker.wait_ready()
            settings = queue_settings(web_data, redis_url)
            # The test reads the album through its own client on the same data directory as the web server.
            with client_for(settings) as web:
                uploads = [image_bytes(40 + i, 24 + i) for i in range(3)]
                ids = [
                    web.post("/api/photos", files={"file": (f"p{i}.png", b, "image/png")}).json()["id"]
                    for i, b in enumerate(uploads)
                ]
                deadline = time.monotonic() + 90
                while any(web.get(f"/api/jobs/{j}").json()["status"] != "done" for j in ids):
                    assert time.monotonic() < deadline, worker.log()
                    time.sleep(0.2)
                for i, j in enumerate(ids):
                    photo = web.get(f"/api/photos/{j}").json()
                    assert size_of(web.get(photo["result_url"]).content) == size_of(uploads[i])
            assert {JobStore(web_data).get(j).worker for j in ids} == {"remote"}
            assert not (worker_data / "jobs").exists()  # nothing written on the worker's machine
        finally:
            worker.stop()
