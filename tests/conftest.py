"""Fixtures shared by the whole suite. `model` is imported first, so its OpenMP setting precedes torch."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import model  # noqa: F401  (sets OMP_WAIT_POLICY before any test module imports torch)

# bench/'s scripts are modules too: the fuzzers' cases and servers, local_process's free port and stop
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from engine_helpers import tiny_weights as write_tiny_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random generator file (render size 32), shared by the app and parity tests."""
    return write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


# --- the album's database: SQLite, and PostgreSQL for the modules marked `both_databases` ---------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module marked `both_databases` that use an album (the `client` fixture, or `album_database`
    itself) run twice: on SQLite and on PostgreSQL; `sqlite_only` keeps one of them on SQLite."""
    if "album_database" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_databases") and not metafunc.definition.get_closest_marker(
        "sqlite_only"
    ):
        metafunc.parametrize("album_database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throwaway PostgreSQL cluster for the session (tests/pg_helpers.py); skipped without PostgreSQL."""
    from pg_helpers import Cluster

    cluster = Cluster()
    reason = cluster.why_not()
    if reason:
        pytest.skip(reason)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def album_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the default: a file in the data directory), or a fresh PostgreSQL database's URL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    from pg_helpers import create_database, drop_database

    url = create_database(request.getfixturevalue("postgres_server"))
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def client(tmp_path: Path, tiny_weights: Path, album_database: str | None) -> Iterator[Any]:
    """A TestClient of the app with the tiny generator and an empty album (FastAPI loads only here)."""
    from app_helpers import client_for, settings_for

    with client_for(settings_for(tmp_path / "data", tiny_weights, database_url=album_database)) as c:
        yield c


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (tests/queue_helpers.py); its modules skip without one."""
    from queue_helpers import redis_server

    with redis_server(tmp_path / "redis") as url:
        yield url
