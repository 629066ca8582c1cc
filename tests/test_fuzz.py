"""Issue 9 against a live server subprocess under an address-space limit (RLIMIT_AS), so a regression
fails a test instead of taking pytest down: the 5000x1 strip, and a sample of bench/fuzz_uploads.py."""

from __future__ import annotations

import pytest
from fuzz_uploads import run
from live_server import LiveServer
from upload_cases import Case, make_cases, sample

from app_helpers import image_bytes

ADDRESS_LIMIT = 6 * 2**30  # the whole server: main process, fork server, worker
REQUEST_MB = 1024  # each request's ceiling (the worker caps itself below the limit above)
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def server(tiny_weights, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with LiveServer(
        tiny_weights,
        tmp / "data",
        workers=1,
        queue=8,
        timeout_s=TIMEOUT_S,
        max_request_mb=REQUEST_MB,
        max_pixels=4_000_000,
        address_limit=ADDRESS_LIMIT,
        log=tmp / "server.log",
    ) as s:
        yield s


def strip_png(w: int, h: int) -> bytes:
    return image_bytes(w, h)


@pytest.mark.parametrize("w,h", [(5000, 1), (1, 5000), (20_000, 1)])
def test_extreme_strip_at_512_center_crop(server, w, h):
    # Issue 9: an 87-byte 5000x1 PNG with center-crop at 512 grew to ~16 GB and the server segfaulted.
    case = Case("strip", f"{w}x{h}", strip_png(w, h), {"policy": "center-crop", "render_size": "512"})
    report = run(server, [case], concurrency=1)
    assert report["status_counts"] == {"200": 1}, report
    assert report["alive_at_end"] and report["peak_worker_hwm_mb"] < REQUEST_MB + 1024


def test_sampled_fuzz_has_no_5xx_and_the_server_lives(server):
    cases = sample(make_cases(1000, seed=9), 48, seed=9)
    assert {c.kind for c in cases} >= {
        "valid",
        "truncated",
        "bitflip",
        "bomb",
        "strip",
        "foreign",
        "garbage",
        "options",
    }
    report = run(server, cases, concurrency=2)
    assert report["5xx"] == 0 and report["dropped_connections"] == 0, report["failures"]
    assert report["alive_at_end"] and report["slowest_s"] < TIMEOUT_S
    assert set(report["status_by_class"]["foreign"]) == {"415"}
    assert set(report["status_by_class"]["bomb"]) <= {"413", "415"}
