"""Fixtures shared by the whole suite. `model` is imported first, so its OpenMP setting precedes torch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import model  # noqa: F401  (sets OMP_WAIT_POLICY before any test module imports torch)

from engine_helpers import tiny_weights as write_tiny_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random generator file (render size 32), shared by the app and parity tests."""
    return write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


@pytest.fixture
def client(tmp_path: Path, tiny_weights: Path) -> Iterator[Any]:
    """A TestClient of the app with the tiny generator and an empty album (FastAPI loads only here)."""
    from app_helpers import client_for, settings_for

    with client_for(settings_for(tmp_path / "data", tiny_weights)) as c:
        yield c
