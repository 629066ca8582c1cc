"""All server settings in one dataclass, read from `HEIRLOOM_*` environment variables; flags override them."""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.options import DEFAULT_MAX_PIXELS

MB = 1024 * 1024


def human_size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n:,} bytes"


def default_workers() -> int:
    # Each model call already uses several torch threads; more workers than cores only adds contention.
    return max(1, min(4, os.cpu_count() or 1))


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


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
    weights: Path | None = None          # None: $HEIRLOOM_WEIGHTS or the shipped weights/ file
    device: str | None = None            # None: CUDA when present, else CPU
    data_dir: Path = Path("data")
    workers: int = field(default_factory=default_workers)
    queue_size: int = 32                 # waiting model calls beyond the busy workers; more get 503
    torch_threads: int | None = None     # intra-op threads per model call; None leaves torch's default
    token: str | None = None             # access token; None: open (loopback only unless allow_public)
    allow_public: bool = False
    max_upload_bytes: int = 50 * MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    load_model: bool = True              # tests of storage-only paths may skip the model

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        values: dict[str, Any] = {
            "host": env.get("HEIRLOOM_HOST") or s.host,
            "port": int(env.get("HEIRLOOM_PORT") or s.port),
            "weights": Path(env["HEIRLOOM_WEIGHTS"]) if env.get("HEIRLOOM_WEIGHTS") else None,
            "device": env.get("HEIRLOOM_DEVICE") or None,
            "data_dir": Path(env.get("HEIRLOOM_DATA_DIR") or s.data_dir),
            "workers": int(env.get("HEIRLOOM_WORKERS") or s.workers),
            "queue_size": int(env.get("HEIRLOOM_QUEUE") or s.queue_size),
            "torch_threads": int(env["HEIRLOOM_TORCH_THREADS"]) if env.get("HEIRLOOM_TORCH_THREADS") else None,
            "token": env.get("HEIRLOOM_TOKEN") or None,
            "allow_public": _bool(env.get("HEIRLOOM_ALLOW_PUBLIC")),
            "max_upload_bytes": int(float(env.get("HEIRLOOM_MAX_UPLOAD_MB") or s.max_upload_bytes / MB) * MB),
            "max_pixels": int(env.get("HEIRLOOM_MAX_PIXELS") or s.max_pixels),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> Settings:
        if self.workers < 1 or self.queue_size < 0:
            raise ValueError("workers must be at least 1 and queue size at least 0")
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise ValueError("upload limits must be positive")
        return self

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes).checked()
