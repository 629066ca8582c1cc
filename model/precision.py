"""Which number format a model runs in: bfloat16 where the CPU computes it natively, float32 elsewhere.

CPUs with AMX (`amx_bf16`) or AVX-512 BF16 (`avx512_bf16`) run bf16 convolutions several times faster
than float32 (measured on this project's 2-core machines: on a Xeon with AMX, VGG16 at 128 px 20 -> 64
photos/s, a decoder's training step 35 -> 78 photos/s; on an AMD EPYC with avx512_bf16 and no AMX, the
shipped recipe's training step 15.6 -> 31.2 photos/s, bench/bench_engine.py); without those units bf16 is
emulated and slower, so it is chosen only where the CPU says it has them, never assumed. CUDA keeps float32
weights and its own autocast.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .options import PRECISIONS

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


class PrecisionError(ValueError):
    """An unknown precision name, or bfloat16 asked of a CPU without native bf16."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    mkldnn_ok = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()  # type: ignore[no-untyped-call]
    return mkldnn_ok and any(f in cpu_flags() for f in BF16_FLAGS)


def channels_last_on(device: torch.device) -> bool:
    """Whether convolutions on `device` train in channels-last memory format: on the CPU always, bf16 or not
    (a training step measured +20 % in float32 on an AVX-512 Xeon without bf16, several-fold in bf16)."""
    return device.type == "cpu"


def resolve_precision(setting: str, device: torch.device) -> torch.dtype:
    """`auto` | `float32` | `bfloat16` on `device` -> the compute dtype of its convolutions."""
    if setting not in PRECISIONS:
        raise PrecisionError(f"unknown precision {setting!r} ({', '.join(PRECISIONS)})")
    if device.type != "cpu":
        return torch.bfloat16 if setting == "bfloat16" else torch.float32
    if setting == "float32":
        return torch.float32
    if cpu_has_native_bf16():
        return torch.bfloat16
    if setting == "bfloat16":
        raise PrecisionError("bfloat16 asked, but this CPU has no native bf16 (amx_bf16 / avx512_bf16): use float32")
    return torch.float32


def describe(dtype: torch.dtype, device: torch.device) -> str:
    """One line for logs and /healthz: what runs and why."""
    if device.type != "cpu":
        return f"{str(dtype).removeprefix('torch.')} on {device.type}"
    units = [f for f in BF16_FLAGS if f in cpu_flags()]
    why = f"CPU has {', '.join(units)}" if units else "CPU has no native bf16"
    return f"{str(dtype).removeprefix('torch.')}{' channels-last' if dtype == torch.bfloat16 else ''} ({why})"
