"""Training end to end on a tiny net and 8 generated photos (after diffusers' example tests)."""

import csv
import json

import pytest
import torch

from model.cli import main
from model.training.config import PRESETS, TrainConfig, apply_overrides, preset
from model.training.data import load_photos, make_batch
from model.training.losses import d_loss, g_loss
from model.training.run_folder import RunFolder

from engine_helpers import write_photos

TINY = [
    "--set",
    "data.size=32",
    "--set",
    "generator.depth=3",
    "--set",
    "generator.base_width=8",
    "--set",
    "discriminator.base_width=8",
    "--set",
    "discriminator.downsamples=2",
    "--set",
    "run.batch_size=2",
    "--set",
    "run.log_every=1",
    "--set",
    "run.sample_every=2",
    "--set",
    "run.checkpoint_every=2",
    "--set",
    "loss.warmup_steps=1",
    "--set",
    "data.cache_dir=",
    "--set",
    "data.val_fraction=0.25",
    "--set",
    "data.min_colorfulness=1",
    "--set",
    "optim.ema=0.9",
]


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    write_photos(folder / "nested", 8)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    from PIL import Image

    Image.new("RGB", (40, 40), (128, 128, 128)).save(folder / "gray.png")  # filtered as near-gray
    return folder


def _run(photos, out, steps, *extra):
    assert (
        main(
            [
                "train",
                str(photos),
                "--runs-dir",
                str(out),
                "--steps",
                str(steps),
                "--preset",
                "cpu-small",
                *TINY,
                *extra,
            ]
        )
        == 0
    )
    return RunFolder(next(p for p in sorted(out.iterdir()) if p.is_dir()))


def test_smoke_run_leaves_all_artifacts(photos, tmp_path, capsys):
    run = _run(photos, tmp_path / "runs", 4)
    err = capsys.readouterr()
    assert "skipped 1 unreadable and 1 near-gray" in err.out
    assert "PatchGAN grid 8×8" in err.out
    cfg = TrainConfig.load(run.config_path)
    assert cfg.data.size == 32 and cfg.run.steps == 4
    rows = list(csv.DictReader((run.path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert rows[0]["d_loss"] == rows[0]["g_adv"] == ""  # warm-up: L1 only at step 0
    assert [r["g_adv"] != "" for r in rows[1:]] == [True] * 3  # G's adversarial term every step
    assert [r["d_loss"] != "" for r in rows[1:]] == [False, True, True]  # D's latest loss, once it has one
    state = run.load_state()
    d_updates = {int(v["step"]) for v in state["opt_d"]["state"].values()}
    g_updates = {int(v["step"]) for v in state["opt_g"]["state"].values()}
    assert d_updates == {1} and g_updates == {4}  # D at half rate (d_every=2), after the 1-step warm-up
    for name in ("adv_loss.png", "l1_loss.png"):
        assert (run.path / name).stat().st_size > 1000
    grids = sorted(run.samples.glob("*.png"))
    assert [g.name for g in grids] == ["step-000002.png", "step-000004.png"]
    from PIL import Image

    assert Image.open(grids[0]).size == (3 * 32, 2 * 32)  # gray | generated | real, 2 val photos
    assert run.state_path.exists() and run.generator_path.exists()
    from model import Colorizer

    c = Colorizer.from_checkpoint(run.generator_path)
    assert c.default_render_size == 32 and c.info["step"] == 4
    shipped = tmp_path / "ship" / "g.safetensors"
    assert main(["export", str(run.path), "-o", str(shipped)]) == 0
    assert (tmp_path / "ship" / "g.safetensors.sha256").exists()
    c2 = Colorizer.from_checkpoint(shipped)  # checksum verified
    assert c2.info["recipe"]["data"]["size"] == 32 and c2.info["step"] == 4


def test_resume_continues_exactly(photos, tmp_path):
    straight = _run(photos, tmp_path / "a", 4)
    half = _run(photos, tmp_path / "b", 2)
    assert main(["train", "--resume", str(half.path), "--steps", "4"]) == 0
    s1, s2 = straight.load_state(), half.load_state()
    assert s2["step"] == 4
    for key in ("G", "D", "ema"):
        for k in s1[key]:
            assert torch.allclose(s1[key][k].float(), s2[key][k].float(), atol=1e-6), (key, k)
    steps = [int(r["step"]) for r in csv.DictReader((half.path / "metrics.csv").open())]
    assert steps == [1, 2, 3, 4]
    assert json.loads(half.config_path.read_text())["run"]["steps"] == 4
    history = [json.loads(l) for l in (half.path / "resumes.jsonl").read_text().splitlines()]
    assert [h["resumed_at_step"] for h in history] == [2] and history[0]["config"]["run"]["steps"] == 4


def test_batches_are_deterministic_and_split_across_ranks(photos):
    cfg = apply_overrides(
        preset("cpu-small"), [f"data.root={photos}", "data.size=32", "data.cache_dir=", "data.degrade=true"]
    )
    ps = load_photos(cfg.data, workers=1, log=lambda *a: None)
    a = make_batch(ps.train, cfg.data, seed=1, step=5, batch_size=4)
    b = make_batch(ps.train, cfg.data, seed=1, step=5, batch_size=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    r0 = make_batch(ps.train, cfg.data, 1, 5, 2, rank=0, world=2)
    r1 = make_batch(ps.train, cfg.data, 1, 5, 2, rank=1, world=2)
    assert torch.equal(torch.cat([r0[1], r1[1]]), a[1])  # clean L: the global batch, split
    l_in, l, ab = a
    assert l_in.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)
    assert 0 <= float(l.min()) and float(l.max()) <= 100


def test_losses_follow_the_write_up():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert d_loss("hinge", real, fake).item() == pytest.approx(0.5 / 2 + 1.5 / 2)
    assert g_loss("hinge", fake).item() == pytest.approx(0.75)
    assert d_loss("lsgan", torch.ones(3), torch.zeros(3)).item() == 0
    assert d_loss("bce", torch.full((3,), 20.0), torch.full((3,), -20.0)).item() < 1e-6
    with pytest.raises(ValueError):
        d_loss("wgan", real, fake)


def test_presets_and_overrides():
    assert set(PRESETS) == {"seed-part1", "seed-part2", "seed-part4", "cpu-small"}
    from model.networks import PatchDiscriminator

    p4 = preset("seed-part4")
    assert PatchDiscriminator(p4.discriminator).patch_grid(p4.data.size) == 11
    p2 = preset("seed-part2")
    assert PatchDiscriminator(p2.discriminator).patch_grid(p2.data.size) == 4
    assert p2.optim.d_every == 2 and p2.loss.gan == "hinge" and p2.discriminator.norm == "instance"
    assert preset("seed-part1").loss.gan == "bce" and preset("seed-part1").discriminator.norm == "batch"
    with pytest.raises(ValueError, match="unknown config key"):
        apply_overrides(p2, ["loss.l2_weight=3"])
    cfg = apply_overrides(p2, ["loss.gan=lsgan", "data.crop_scale=[0.5, 1.0]"])
    assert cfg.loss.gan == "lsgan" and cfg.data.crop_scale == (0.5, 1.0)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_dry_run_prints_plan(capsys, tmp_path):
    assert main(["train", str(tmp_path), "--preset", "seed-part4", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["size"] == 352


def test_empty_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--runs-dir", str(tmp_path / "r"), *TINY]) == 2
    assert "no images" in capsys.readouterr().err


def test_stop_request_checkpoints_at_a_step_boundary(photos, tmp_path):
    from model.training.trainer import Trainer

    cfg = apply_overrides(
        preset("cpu-small"),
        [
            f"data.root={photos}",
            "data.size=32",
            "data.cache_dir=",
            "generator.depth=3",
            "generator.base_width=8",
            "discriminator.base_width=8",
            "discriminator.downsamples=2",
            "run.batch_size=2",
            "run.steps=50",
            f"run.out_dir={tmp_path}",
        ],
    )
    run = RunFolder.create(cfg)
    trainer = Trainer(cfg, run, load_photos(cfg.data, workers=1, log=lambda *a: None), log=lambda *a: None)
    original = trainer.train_step

    def step_then_stop():
        row = original()
        if trainer.step == 3:
            trainer.stop_requested = True  # what Ctrl-C / SIGTERM does
        return row

    trainer.train_step = step_then_stop
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert run.load_state()["step"] == 3 and run.generator_path.exists()
