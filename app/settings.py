"""Every setting of `heirloom serve` and `heirloom worker`, in one tree: one dataclass with one default per
setting, and one table (`VARIABLES`) of the `HEIRLOOM_*` environment variables that set them, each read in
one place (`Settings.from_env`); flags override them. The README's table is made from `VARIABLES` (a
test checks that the two agree)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.options import DEFAULT_MAX_PIXELS, PRECISIONS

MB = 1024 * 1024
GB = 1024 * MB
MIN_TOKEN_LENGTH = 12
MIN_TOKEN_DISTINCT = 8  # `aaaaaaaaaaaa` is twelve characters and no secret
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
    redelivery_s: float = 30.0  # queue mode: a worker silent this long is dead (web side and workers alike)
    wait_timeout_s: float = 300.0  # queue mode: how long POST /colorize waits for its job
    database_url: str | None = None  # postgresql://…: the album's records there (else SQLite in data_dir)
    max_queued: int = 1000  # queue mode: jobs waiting in Redis beyond which uploads get 503 + Retry-After
    session_days: float = 7.0  # a login ends after this long unused (each use renews it), or 30 days in any case
    worker_name: str = ""  # `heirloom worker`: its name in logs and job records ("": host:pid)
    beat_file: Path | None = None  # `heirloom worker`: touched at each heartbeat, for a container's health check
    retention_days: float = 30.0  # finished job records, abandoned batches: removed this old (0: kept forever)
    worker_token: str | None = None  # queue mode: the token workers on other machines show the web side's worker API
    server_url: str | None = None  # `heirloom worker --server-url`: jobs' files over HTTP, no shared data directory

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment, then `overrides` (flags; None: not given)."""
        env = os.environ if env is None else env
        values = {v.field: v.parse(secret) for v in VARIABLES if (secret := _value(env, v.name))}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> Settings:
        if self.precision not in PRECISIONS:
            raise ValueError(f"the precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.max_queued < 1:
            raise ValueError("the queue limit (HEIRLOOM_MAX_QUEUED) must be at least 1")
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
        if not 0 < self.session_days <= 30:
            raise ValueError("the session lifetime must be more than 0 and at most 30 days")
        if self.retention_days < 0:
            raise ValueError("the retention (HEIRLOOM_RETENTION_DAYS) must be 0 (keep everything) or more days")
        if self.redelivery_s <= 0 or self.wait_timeout_s <= 0:
            raise ValueError("the redelivery and wait timeouts must be positive")
        for what, token in (("access token", self.token), ("worker token (HEIRLOOM_WORKER_TOKEN)", self.worker_token)):
            if token is not None:
                _check_token(what, token)
        if self.server_url is not None:
            if not self.server_url.startswith(("http://", "https://")):
                raise ValueError(f"the server URL must be http(s)://host:port, got {self.server_url!r}")
            if not self.worker_token:
                raise ValueError("a worker with --server-url needs the web side's HEIRLOOM_WORKER_TOKEN")
        return self

    @property
    def threads(self) -> int:
        """Torch threads per model call: as set, else the cores shared by the engine processes, so N calls at
        once do not fight over them."""
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.workers)

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


@dataclass(frozen=True)
class Variable:
    name: str  # HEIRLOOM_…
    field: str  # the Settings field it sets
    parse: Callable[[str], Any]
    default: str  # the default, in words, for the README
    what: str


def _value(env: Mapping[str, str], name: str) -> str | None:
    """NAME, or the contents of the file NAME_FILE names (Docker and Kubernetes secrets: a password never in
    the environment that `docker inspect` shows); both set is a mistake worth a clear error."""
    path = env.get(f"{name}_FILE")
    if path and env.get(name):
        raise ValueError(f"both {name} and {name}_FILE are set; keep one")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ValueError(f"{name}_FILE: cannot read {path}: {e.strerror}") from None
    return env.get(name) or None


def _check_token(what: str, token: str) -> None:
    if not token.strip():
        raise ValueError(
            f"the {what} is blank; choose one of at least {MIN_TOKEN_LENGTH} characters "
            "(or none at all, for loopback only)"
        )
    if not all("!" <= ch <= "~" for ch in token):  # it travels in an Authorization header
        raise ValueError(
            f"the {what} must be printable ASCII (letters, digits, punctuation; no spaces or "
            "accents): a browser or curl can send nothing else in a header"
        )
    if len(token) < MIN_TOKEN_LENGTH or len(set(token)) < MIN_TOKEN_DISTINCT:
        raise ValueError(
            f"the {what} must be at least {MIN_TOKEN_LENGTH} characters, at least "
            f"{MIN_TOKEN_DISTINCT} of them distinct (e.g. `python3 -c 'import secrets; "
            f"print(secrets.token_urlsafe())'`)"
        )


def _mb(value: str) -> int:
    return int(float(value) * MB)


VARIABLES: tuple[Variable, ...] = (
    Variable("HEIRLOOM_WEIGHTS", "weights", Path, "`weights/heirloom-generator.safetensors`", "generator file"),
    Variable("HEIRLOOM_DATA_DIR", "data_dir", Path, "`data`", "originals, results and the album (SQLite)"),
    Variable(
        "HEIRLOOM_TOKEN",
        "token",
        str,
        "none",
        "access token for every page and API route (login page or `Authorization: Bearer`): printable ASCII, "
        "at least 12 characters, 8 of them distinct",
    ),
    Variable("HEIRLOOM_HOST", "host", str, "`127.0.0.1`", "address to bind; without a token only a loopback one…"),
    Variable("HEIRLOOM_PORT", "port", int, "`8000`", "port"),
    Variable("HEIRLOOM_ALLOW_PUBLIC", "allow_public", _bool, "`0`", "…unless this says that openness is intended"),
    Variable(
        "HEIRLOOM_WORKERS",
        "workers",
        int,
        "up to 4, by CPU count",
        "model calls at once: the engine processes of `serve` or of a `worker`",
    ),
    Variable(
        "HEIRLOOM_QUEUE", "queue_size", int, "`32`", "model calls that may wait; beyond that `503` + `Retry-After`"
    ),
    Variable("HEIRLOOM_MAX_UPLOAD_MB", "max_upload_bytes", _mb, "`50`", "larger uploads get `413`"),
    Variable(
        "HEIRLOOM_MAX_PIXELS",
        "max_pixels",
        int,
        "`100000000`",
        "larger images get `413` (decompression bombs included)",
    ),
    Variable(
        "HEIRLOOM_MAX_REQUEST_MB",
        "max_work_bytes",
        _mb,
        "RAM ÷ (2 × workers), 1–8 GB (6 GB on 24 GB, 2 workers)",
        "peak memory one photo may use, model included: more gets `422`",
    ),
    Variable(
        "HEIRLOOM_REQUEST_TIMEOUT",
        "request_timeout_s",
        float,
        "`120`",
        "seconds one photo may take; then its engine process is replaced and the photo fails with `504`",
    ),
    Variable(
        "HEIRLOOM_ALLOWED_HOSTS",
        "allowed_hosts",
        names_list,
        "loopback names without a token",
        "`Host` names served (comma-separated, `*` for any); others get `421`",
    ),
    Variable("HEIRLOOM_DEVICE", "device", str, "CUDA when present", "`cpu`, `cuda`, `cuda:1`…"),
    Variable("HEIRLOOM_TORCH_THREADS", "torch_threads", int, "cores ÷ workers", "torch threads per model call"),
    Variable(
        "HEIRLOOM_PRECISION",
        "precision",
        str,
        "`auto`",
        "`auto`: bfloat16 (channels-last) where the CPU computes it natively (`amx_bf16` or `avx512_bf16`), else "
        "float32; `float32`; `bfloat16` (refused on a CPU without it). Logged at start and shown in `/healthz`",
    ),
    Variable(
        "HEIRLOOM_BROKER_URL",
        "broker_url",
        str,
        "none",
        "`redis://…`: queue mode (below): jobs go to `heirloom worker`s, no model in `serve`",
    ),
    Variable(
        "HEIRLOOM_DATABASE_URL",
        "database_url",
        str,
        "none",
        "`postgresql://user:password@host:5432/db`: the album's records in PostgreSQL (below); else SQLite",
    ),
    Variable(
        "HEIRLOOM_WAIT_TIMEOUT",
        "wait_timeout_s",
        float,
        "`300`",
        "queue mode: how long `POST /colorize` waits for its job (then `504`)",
    ),
    Variable(
        "HEIRLOOM_MAX_QUEUED",
        "max_queued",
        int,
        "`1000`",
        "queue mode: jobs waiting for a worker beyond which an upload gets `503` + `Retry-After` (nothing queued)",
    ),
    Variable(
        "HEIRLOOM_REDELIVERY_S",
        "redelivery_s",
        float,
        "`30`",
        "queue mode: seconds without a heartbeat after which a worker counts as dead and its job runs elsewhere",
    ),
    Variable(
        "HEIRLOOM_SESSION_DAYS",
        "session_days",
        float,
        "`7`",
        "a login ends after this many days unused (each use renews it), 30 days after it at the latest, or at logout",
    ),
    Variable("HEIRLOOM_WORKER_NAME", "worker_name", str, "host:pid", "a worker's name in logs and job records"),
    Variable(
        "HEIRLOOM_BEAT_FILE", "beat_file", Path, "none", "a worker touches this file at each heartbeat (health check)"
    ),
    Variable(
        "HEIRLOOM_RETENTION_DAYS",
        "retention_days",
        float,
        "`30`",
        "finished job records, half-written job folders and abandoned batches older than this are removed "
        "(hourly; `heirloom jobs prune` by hand); `0` keeps them. Album photos are never touched",
    ),
    Variable(
        "HEIRLOOM_WORKER_TOKEN",
        "worker_token",
        str,
        "none",
        "queue mode: opens the worker API (`/api/worker/…`) to workers on other machines that show it; a worker "
        "with `--server-url` sends it (rules as for the access token)",
    ),
    Variable(
        "HEIRLOOM_SERVER_URL",
        "server_url",
        str,
        "none",
        "`heirloom worker`: fetch originals from and hand results to this web server over HTTP, with no shared "
        "data directory",
    ),
)


def markdown_table() -> str:
    """The README's table of environment variables."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.what} |" for v in VARIABLES]
    return "\n".join(rows)
