"""`heirloom serve`: flags over environment variables over defaults, a safety check on the
address, then uvicorn with one process that serves pages and uploads; decoding and the model run
in `--workers` worker processes (serving/processes.py), each holding its own copy of the model. With
`--broker redis://…` (queue mode, app/serving/queued.py) it loads no model: jobs go to `heirloom worker`s."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from model.options import PRECISIONS

from .settings import MB, Settings, is_loopback, names_list

DEFAULTS = Settings()


def parse(argv: list[str] | None) -> tuple[Settings, str]:
    p = argparse.ArgumentParser(prog="heirloom serve", description="Serve the Heirloom web app and API.")
    p.add_argument("--host", help="address to bind (default 127.0.0.1, $HEIRLOOM_HOST)")
    p.add_argument("--port", type=int, help="port (default 8000, $HEIRLOOM_PORT)")
    p.add_argument("--weights", type=Path, help="generator .safetensors (default $HEIRLOOM_WEIGHTS or weights/)")
    p.add_argument("--device", help="cpu, cuda, cuda:1… (default: CUDA when present)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default: bf16 where the CPU has it natively, else float32), float32, bfloat16 "
        "($HEIRLOOM_PRECISION)",
    )
    p.add_argument("--data-dir", type=Path, help="where originals, results and the album live ($HEIRLOOM_DATA_DIR)")
    p.add_argument("--workers", type=int, help="model calls at once (default: up to 4, by CPU count)")
    p.add_argument(
        "--queue",
        type=int,
        dest="queue_size",
        help=f"calls that may wait; more get 503 (default {DEFAULTS.queue_size})",
    )
    p.add_argument("--token", help="access token for every page and API call ($HEIRLOOM_TOKEN)")
    p.add_argument(
        "--allow-public",
        action="store_true",
        default=None,
        help="allow a non-loopback address without a token (anyone who reaches it can use it)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, help=f"largest upload in MB (default {DEFAULTS.max_upload_bytes // MB})"
    )
    p.add_argument("--max-pixels", type=int, help=f"largest image in pixels (default {DEFAULTS.max_pixels:,})")
    p.add_argument(
        "--max-request-mb",
        type=float,
        help="peak memory one photo may use, model included (default: by machine, "
        f"{DEFAULTS.work_bytes // MB:,} here; $HEIRLOOM_MAX_REQUEST_MB)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        dest="request_timeout_s",
        help=f"seconds one photo may take before its worker is replaced: 504 "
        f"(default {DEFAULTS.request_timeout_s:g}; $HEIRLOOM_REQUEST_TIMEOUT)",
    )
    p.add_argument(
        "--allowed-hosts",
        help="comma-separated Host names served, '*' for any (default without a token: "
        "localhost, 127.0.0.1, ::1; $HEIRLOOM_ALLOWED_HOSTS)",
    )
    p.add_argument(
        "--broker",
        dest="broker_url",
        help="redis://host:6379/0: queue colorize jobs for `heirloom worker`s instead of running them here; "
        "no model is loaded ($HEIRLOOM_BROKER_URL)",
    )
    p.add_argument("--log-level", default="info")
    a = p.parse_args(argv)
    overrides = {
        k: getattr(a, k)
        for k in (
            "host",
            "port",
            "weights",
            "device",
            "precision",
            "data_dir",
            "workers",
            "queue_size",
            "token",
            "allow_public",
            "max_pixels",
            "request_timeout_s",
            "broker_url",
        )
    }
    if a.max_upload_mb is not None:
        overrides["max_upload_bytes"] = int(a.max_upload_mb * 2**20)
    if a.max_request_mb is not None:
        overrides["max_work_bytes"] = int(a.max_request_mb * 2**20)
    if a.allowed_hosts is not None:
        overrides["allowed_hosts"] = names_list(a.allowed_hosts)
    return Settings.from_env(**overrides), a.log_level


def serve(argv: list[str] | None = None) -> int:
    try:
        settings, log_level = parse(argv)
    except ValueError as e:
        print(f"heirloom serve: {e}", file=sys.stderr)
        return 2
    if not settings.token and not settings.allow_public and not is_loopback(settings.host):
        print(
            f"heirloom serve: refusing to listen on {settings.host} without an access token: anyone who "
            f"can reach it could use it. Set --token / HEIRLOOM_TOKEN, or pass --allow-public.",
            file=sys.stderr,
        )
        return 2
    from .serving.factory import prestart

    prestart(settings)
    import uvicorn

    from .main import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # A missing model is logged in words by the app's start-up and reported by /healthz; the album still works.
    app = create_app(settings)
    from .slow_clients import GuardedH11Protocol

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        http=GuardedH11Protocol,  # slow headers and bodies are cut off (app/slow_clients.py)
    )
    return 0


if __name__ == "__main__":
    sys.exit(serve())
