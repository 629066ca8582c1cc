"""Queue mode through Redis outages: the API and pages wait and say the photos are safe, a restart
without its data requeues the jobs within seconds, a worker started before Redis waits for it."""

from __future__ import annotations

import time

import pytest

from app.serving import broker as jq

from app_helpers import client_for, image_bytes
from queue_helpers import (
    REDELIVERY_S,
    RedisServer,
    WorkerProc,
    assert_queue_empty,
    needs_redis,
    queue_settings,
    run_queued_job,
    wait_for,
)

pytestmark = needs_redis


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
