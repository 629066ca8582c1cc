"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, `initdb` into a temporary
folder, the server on a free port (and its socket in that folder), trust authentication, stopped and
removed at the end. `initdb` refuses root: as root the cluster belongs to the `postgres` user the Debian
package creates (run through `runuser`). One cluster per test session; each test gets its own database."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from local_process import free_port

USER = "heirloom"  # the cluster's superuser, whatever system user runs it


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them out of PATH), or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class Cluster:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.root: Path | None = None
        self.port = 0
        self.run_as: list[str] = []

    def why_not(self) -> str | None:
        """None if a cluster can be started here, else the reason to skip."""
        if self.bin is None:
            return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)"
        if os.getuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a `postgres` user for initdb (which refuses root)"
            if shutil.which("runuser") is None:
                return "running as root without `runuser` to start PostgreSQL as `postgres`"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed (pip install -e '.[test]')"
        return None

    def start(self) -> str:
        """-> the server's URL (no database named)."""
        assert self.bin is not None
        self.root = Path(tempfile.mkdtemp(prefix="heirloom-pg-"))
        if os.getuid() == 0:
            self.run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        data, self.port = self.root / "data", free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True, "timeout": 120}
        subprocess.run(
            [*self.run_as, str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--no-locale"]
            + ["-E", "UTF8", "--no-sync"],
            **quiet,
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.root / "server.log"
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
            **quiet,
        )
        return f"postgresql://{USER}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def create_database(server_url: str) -> str:
    """A new, empty database on the server; -> its URL."""
    import psycopg

    name = f"album_{secrets.token_hex(6)}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
