"""All server settings in one dataclass, read from `HEIRLOOM_*` environment variables; flags override them."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.options import DEFAULT_MAX_PIXELS, PRECISIONS

MB = 1024 * 1024
GB = 1024 * MB
MIN_TOKEN_LENGTH = 12
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def human_size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n:,} bytes"


def default_workers() -> int:
    # Each model call already uses several torch threads; more workers than cores only adds contention.
    return max(1, min(4, os.cpu_count() or 1))


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * GB


def default_work_bytes(workers: int) -> int:
    """Peak memory one request may use: half the machine shared by the workers, 1 to 8 GB
    (6 GB each for this project's 24 GB machine and its 2 workers; the rest is the OS and other work)."""
    return int(max(1 * GB, min(8 * GB, physical_memory() // (2 * workers))))


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def names_list(value: str | None) -> tuple[str, ...] | None:
    names = tuple(n.strip().lower() for n in (value or "").split(",") if n.strip())
    return names or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    weights: Path | None = None  # None: $HEIRLOOM_WEIGHTS or the shipped weights/ file
    device: str | None = None  # None: CUDA when present, else CPU
    precision: str = "auto"  # auto (bf16 where the CPU has it natively) | float32 | bfloat16
    data_dir: Path = Path("data")
    workers: int = field(default_factory=default_workers)
    queue_size: int = 32  # waiting model calls beyond the busy workers; more get 503
    torch_threads: int | None = None  # intra-op threads per model call; None leaves torch's default
    token: str | None = None  # access token; None: open (loopback only unless allow_public)
    allow_public: bool = False
    max_upload_bytes: int = 50 * MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_work_bytes: int | None = None  # peak memory of one request, model included; None: by machine
    request_timeout_s: float = 120.0  # a photo's time in its worker; then the worker is replaced: 504
    allowed_hosts: tuple[str, ...] | None = None  # Host header names; None: loopback names without a token
    login_attempts: int = 10  # failed logins (or bad bearer tokens) per client before a wait…
    login_window_s: float = 60.0  # …of this long
    load_model: bool = True  # tests of storage-only paths may skip the model
    broker_url: str | None = None  # redis://…: enqueue colorize jobs for `heirloom worker`s, load no model
    redelivery_s: float = 30.0  # queue mode: a worker silent this long is dead (must match the workers')
    wait_timeout_s: float = 300.0  # queue mode: how long POST /colorize waits for its job
    database_url: str | None = None  # postgresql://…: the album's records there (else SQLite in data_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        values: dict[str, Any] = {
            "host": env.get("HEIRLOOM_HOST") or s.host,
            "port": int(env.get("HEIRLOOM_PORT") or s.port),
            "weights": Path(env["HEIRLOOM_WEIGHTS"]) if env.get("HEIRLOOM_WEIGHTS") else None,
            "device": env.get("HEIRLOOM_DEVICE") or None,
            "precision": env.get("HEIRLOOM_PRECISION") or s.precision,
            "data_dir": Path(env.get("HEIRLOOM_DATA_DIR") or s.data_dir),
            "workers": int(env.get("HEIRLOOM_WORKERS") or s.workers),
            "queue_size": int(env.get("HEIRLOOM_QUEUE") or s.queue_size),
            "torch_threads": int(env["HEIRLOOM_TORCH_THREADS"]) if env.get("HEIRLOOM_TORCH_THREADS") else None,
            "token": env.get("HEIRLOOM_TOKEN") or None,
            "allow_public": _bool(env.get("HEIRLOOM_ALLOW_PUBLIC")),
            "max_upload_bytes": int(float(env.get("HEIRLOOM_MAX_UPLOAD_MB") or s.max_upload_bytes / MB) * MB),
            "max_pixels": int(env.get("HEIRLOOM_MAX_PIXELS") or s.max_pixels),
            "max_work_bytes": int(float(env["HEIRLOOM_MAX_REQUEST_MB"]) * MB)
            if env.get("HEIRLOOM_MAX_REQUEST_MB")
            else None,
            "request_timeout_s": float(env.get("HEIRLOOM_REQUEST_TIMEOUT") or s.request_timeout_s),
            "allowed_hosts": names_list(env.get("HEIRLOOM_ALLOWED_HOSTS")),
            "broker_url": env.get("HEIRLOOM_BROKER_URL") or None,
            "redelivery_s": float(env.get("HEIRLOOM_REDELIVERY_S") or s.redelivery_s),
            "wait_timeout_s": float(env.get("HEIRLOOM_WAIT_TIMEOUT") or s.wait_timeout_s),
            "database_url": env.get("HEIRLOOM_DATABASE_URL") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> Settings:
        if self.precision not in PRECISIONS:
            raise ValueError(f"the precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.workers < 1 or self.queue_size < 0:
            raise ValueError("workers must be at least 1 and queue size at least 0")
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise ValueError("upload limits must be positive")
        if self.request_timeout_s <= 0 or (self.max_work_bytes is not None and self.max_work_bytes < 64 * MB):
            raise ValueError("the request timeout must be positive and the request memory at least 64 MB")
        if self.broker_url is not None and not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"the broker URL must be redis://host:port/db (or rediss://, unix://), got {self.broker_url!r}"
            )
        if self.database_url is not None and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"the database URL must be postgresql://user:password@host:port/db, got {self.database_url!r}"
            )
        if self.redelivery_s <= 0 or self.wait_timeout_s <= 0:
            raise ValueError("the redelivery and wait timeouts must be positive")
        if self.token is not None:
            if not self.token.strip():
                raise ValueError(
                    "the access token is blank; choose one of at least "
                    f"{MIN_TOKEN_LENGTH} characters (or none at all, for loopback only)"
                )
            if self.token != self.token.strip() or len(self.token) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"the access token must be at least {MIN_TOKEN_LENGTH} characters, without "
                    f"leading or trailing spaces (e.g. `python3 -c 'import secrets; "
                    f"print(secrets.token_urlsafe())'`)"
                )
        return self

    @property
    def work_bytes(self) -> int:
        return self.max_work_bytes if self.max_work_bytes is not None else default_work_bytes(self.workers)

    @property
    def host_names(self) -> tuple[str, ...] | None:
        """Host header names served; None: any (a token guards the server, or the operator said '*')."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else self.allowed_hosts
        if self.token or self.allow_public:
            return None
        extra = () if self.host in ("0.0.0.0", "::", "") else (self.host,)
        return tuple(dict.fromkeys(LOOPBACK_NAMES + extra))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes).checked()
