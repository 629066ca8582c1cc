"""Two gloo processes on CPU train a few steps under DDP and end with identical weights; rank 0 alone writes."""

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from local_process import free_port
from test_training import TINY

from engine_helpers import write_photos


def _worker(rank: int, world: int, port: int, sets: list[str], run: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from model.training.recipe import load_recipe
    from model.training.training_run import train

    trainer = train(load_recipe(None, sets), run, log=lambda *a: None)
    torch.save({"G": trainer.net.state_dict(), "D": trainer.gan.D.state_dict()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_agree(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 8)
    sets = [*TINY, f"photos={tmp_path / 'photos'}", "steps=3", "d_every=1"]
    run = tmp_path / "run"
    mp.spawn(_worker, args=(2, free_port(), sets, str(run), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for net in ("G", "D"):
        for k in r0[net]:
            assert torch.allclose(r0[net][k].float(), r1[net][k].float(), atol=1e-6), (net, k)
    from model.architectures.hypercolumn import HypercolumnGenerator
    from model.training.recipe import load_recipe

    torch.manual_seed(0)
    init = HypercolumnGenerator(load_recipe(None, sets).generator).state_dict()
    assert any(not torch.equal(init[k], r0["G"][k]) for k in init if init[k].is_floating_point())  # it trained
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 3  # rank 0 wrote the run
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["photos", "run"]
