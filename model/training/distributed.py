"""Training under `torchrun` (DDP: NCCL on GPU, gloo on CPU), and a single process as its world of one."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if torch.cuda.is_available() else torch.device("cpu")

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def main_first(self, make: Callable[[], T]) -> T | None:
        """Rank 0 runs `make` (it writes a file the other ranks then read), then every rank meets at the barrier.
        Rank 0's error is raised after the barrier, not before: the other ranks would wait there for ever. Returns
        `make`'s value on rank 0, None on the others."""
        value, failed = None, None
        if self.main:
            try:
                value = make()
            except Exception as e:  # re-raised below, once the others are through
                failed = e
        self.barrier()
        if failed is not None:
            raise failed
        return value

    def agree(self, go: bool) -> bool:
        """Whether every rank goes on: time budgets and signals differ per rank, and a rank that stopped
        alone would leave the others waiting in their next gradient sync for ever."""
        if self.world == 1:
            return go
        flag = torch.tensor([int(go)], device=self.device() if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())


def init_distributed() -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def wrap(module: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """The module itself alone; under DDP a wrapper whose backward averages the gradients across ranks."""
    if d.world == 1:
        return module
    ids = [d.local_rank] if torch.cuda.is_available() else None
    return DistributedDataParallel(module, device_ids=ids)
