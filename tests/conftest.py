"""Fixtures shared by the whole suite. `model` is imported first, so its OpenMP setting precedes torch."""
from __future__ import annotations

from pathlib import Path

import pytest

import model  # noqa: F401  (sets OMP_WAIT_POLICY before any test module imports torch)

from engine_helpers import tiny_weights as write_tiny_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random generator file (render size 32), shared by the app and parity tests."""
    return write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")
