"""The upload page in Debian's Chromium, in queue mode: queued photos shown live, and Redis outages waited
through without ever saying a photo failed."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from app.serving.job_store import JobStore

from app_helpers import image_bytes
from queue_helpers import (
    RedisServer,
    needs_redis,
    run_queued_job,
)

pytestmark = needs_redis


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
