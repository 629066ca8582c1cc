"""Two gloo processes on CPU train a few steps under DDP and end with identical weights."""

import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from model.training.config import TrainConfig, apply_overrides, preset

from engine_helpers import write_photos


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg_json: str, out: str):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from model.training.trainer import train

    trainer = train(TrainConfig.from_dict(json.loads(cfg_json)), log=lambda *a: None)
    torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_agree(tmp_path):
    write_photos(tmp_path / "photos", 8)
    cfg = apply_overrides(
        preset("cpu-small"),
        [
            f"data.root={tmp_path / 'photos'}",
            "data.size=32",
            "data.cache_dir=",
            "data.val_fraction=0",
            "data.min_colorfulness=1",
            "generator.depth=3",
            "generator.base_width=8",
            "discriminator.base_width=8",
            "discriminator.downsamples=2",
            "run.batch_size=2",
            "run.steps=3",
            f"run.out_dir={tmp_path / 'runs'}",
            "loss.warmup_steps=1",
            "optim.d_every=1",
            "run.sample_every=100",
            "run.checkpoint_every=100",
        ],
    )
    mp.spawn(_worker, args=(2, _free_port(), cfg.to_json(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for net in ("G", "D"):
        for k in r0[net]:
            assert torch.allclose(r0[net][k].float(), r1[net][k].float(), atol=1e-6), (net, k)
    torch.manual_seed(cfg.run.seed)
    from model.networks import UNetGenerator

    init = UNetGenerator(cfg.generator).state_dict()
    assert any(not torch.equal(init[k], r0["G"][k]) for k in init if init[k].is_floating_point())  # it trained
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "generator.safetensors").exists()  # rank 0 wrote once
