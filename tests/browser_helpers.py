"""Shared by the browser tests: Debian's Chromium, a real `uvicorn app.main:app` on a free loopback port, and a
gray test scan. Imported only by the browser tests (they skip without /usr/bin/chromium)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from local_process import free_port, stop
from PIL import Image, ImageDraw, ImageFilter

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("HEIRLOOM_SCREENSHOTS") == "1"  # rewrite docs/*.png only when asked
AXE = Path(__file__).parent / "assets" / "axe.min.js"  # axe-core 4.14.1, vendored (tests/assets/README.md)


def axe_violations(page) -> list[str]:
    """axe-core's findings of any impact on the page as it stands, one line each ([] when none). The page's
    context must bypass CSP: only for this injected checker."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`)"""
    )


@contextmanager
def running_server(data_dir: Path, weights: Path, **env: str) -> Iterator[str]:
    """The web app in its own process (HEIRLOOM_* variables from `env`); yields its base URL."""
    port = free_port()
    full = {
        **os.environ,
        "HEIRLOOM_WEIGHTS": str(weights),
        "HEIRLOOM_DATA_DIR": str(data_dir),
        "HEIRLOOM_WORKERS": "1",
        "HEIRLOOM_DEVICE": "cpu",
    }
    full.pop("HEIRLOOM_TOKEN", None)
    full.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stdout.read().decode())
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        yield url
    finally:
        stop(proc, 10)


def make_scan(path: Path, size=(360, 240)) -> Path:
    """A gray 'photo': sky gradient, hills, a house, film grain."""
    w, h = size
    im = Image.linear_gradient("L").resize((w, h)).point(lambda v: 90 + v // 2)
    d = ImageDraw.Draw(im)
    d.ellipse((-w // 3, h // 2, w // 2, h * 3 // 2), fill=70)
    d.ellipse((w // 3, h * 3 // 5, w * 3 // 2, h * 2), fill=95)
    d.rectangle((w // 2, h // 3, w * 3 // 4, h * 2 // 3), fill=200)
    d.polygon([(w // 2 - 10, h // 3), (w * 5 // 8, h // 6), (w * 3 // 4 + 10, h // 3)], fill=40)
    d.ellipse((w * 4 // 5, h // 10, w * 9 // 10, h // 4), fill=245)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    im.save(path, "JPEG", quality=90)
    return path
