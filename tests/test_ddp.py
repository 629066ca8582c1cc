"""Two gloo processes on CPU train a few steps under DDP and end with identical weights; rank 0 alone writes."""

import os
import time
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


def _main_first_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    from model.errors import ConfigError
    from model.training.distributed import init_distributed

    d = init_distributed()
    ran: list[int] = []

    def write() -> str:
        ran.append(rank)
        raise ConfigError("no wheel here")

    try:
        result = f"returned {d.main_first(write)}"
    except ConfigError as e:
        result = f"raised {e}"
    d.barrier()  # both got here: neither was left waiting at main_first's barrier
    Path(out, f"rank{rank}.txt").write_text(f"{result}; ran {ran}")
    dist.destroy_process_group()


def test_a_failure_on_rank0_reaches_every_rank_instead_of_a_hang(tmp_path: Path) -> None:
    """Rank 0 writes the file the others read (the encoder's, the critic's); when that fails, it raises after the
    barrier, so rank 1 goes on (and would fail on the missing file) instead of waiting at the barrier for ever."""
    ctx = mp.spawn(_main_first_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("a rank hung at the barrier")
    assert (tmp_path / "rank0.txt").read_text() == "raised no wheel here; ran [0]"
    assert (tmp_path / "rank1.txt").read_text() == "returned None; ran []"


def test_main_first_alone_returns_or_raises() -> None:
    from model.errors import ConfigError
    from model.training.distributed import Dist

    assert Dist().main_first(lambda: 7) == 7
    with pytest.raises(ConfigError, match="gone"):
        Dist().main_first(lambda: (_ for _ in ()).throw(ConfigError("gone")))
    assert Dist(rank=1, world=1).main_first(lambda: 7) is None  # not rank 0: it never runs `make`
