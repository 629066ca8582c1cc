"""The hypercolumn generator: encoder file and checksums, heads and losses, cache, trainer, GPU path on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.architectures.hypercolumn import HypercolumnConfig, HypercolumnGenerator, ab_bin_centers, annealed_mean
from model.checkpoint import build_generator, read_generator
from model.encoders import VGG16Encoder, encoder_filename, load_encoder
from model.errors import CheckpointError
from model.photo_io import Photo
from model.pipeline import Colorizer
from model.training.color_losses import ab_prior, class_loss, nearest_bin, rebalance_weights
from model.training.fid import InceptionFID
from model.training.generator_file import save_encoder, save_generator

from engine_helpers import TINY_DECODER

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (not ImageNet) VGG16 in the shipped float16 format: the shapes are what matter here."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("enc")
    return save_encoder(folder / encoder_filename("vgg16"), VGG16Encoder(), "random test weights")


def _generator_file(folder: Path, encoder_file: Path, cfg: HypercolumnConfig = TINY_DECODER) -> Path:
    torch.manual_seed(1)
    g = HypercolumnGenerator(cfg)
    return save_generator(folder / "g.safetensors", g, 64, {"test": True}, encoder_path=encoder_file)


def test_encoder_taps_and_minimum_size() -> None:
    enc = VGG16Encoder()
    f3, f4, f5 = enc(torch.zeros(2, 1, 128, 128))
    assert (f3.shape[1:], f4.shape[1:], f5.shape[1:]) == ((256, 33, 33), (512, 17, 17), (512, 9, 9))
    tiny = enc(torch.zeros(1, 1, 8, 40))  # below the minimum side: enlarged, still three maps
    assert all(t.shape[0] == 1 and min(t.shape[-2:]) >= 1 for t in tiny)
    assert not any(p.requires_grad for p in enc.parameters())


def test_generator_file_names_its_encoder_and_loads_strictly(tmp_path: Path, encoder_file: Path) -> None:
    path = _generator_file(tmp_path, encoder_file)
    gen = read_generator(path)
    assert gen.architecture == "hypercolumn" and gen.encoder_path is not None
    assert gen.encoder_path.resolve() == encoder_file.resolve()
    assert not any(k.startswith("encoder.") for k in gen.state), "the encoder is stored once, in its own file"
    model = build_generator(gen)
    x = torch.rand(1, 1, 64, 96) * 2 - 1
    y = model(x)
    assert y.shape == (1, 2, 32, 48) and y.abs().max() <= 1.0


def test_swapped_encoder_is_refused(tmp_path: Path, encoder_file: Path) -> None:
    path = _generator_file(tmp_path, encoder_file)
    other = tmp_path / "other"
    other.mkdir()
    torch.manual_seed(5)
    save_encoder(other / encoder_file.name, VGG16Encoder(), "other")
    gen = read_generator(path)
    gen.encoder_path = other / encoder_file.name
    with pytest.raises(CheckpointError, match="SHA-256"):
        build_generator(gen)
    gen.encoder_path = tmp_path / "missing.safetensors"
    with pytest.raises(CheckpointError, match="not found"):
        build_generator(gen)


def test_decoder_state_must_match(tmp_path: Path, encoder_file: Path) -> None:
    gen = read_generator(_generator_file(tmp_path, encoder_file))
    gen.state = {k: v for k, v in gen.state.items() if "regression" not in k}
    with pytest.raises(CheckpointError, match="do not match"):
        build_generator(gen)


def test_encoder_file_kind_is_checked(tmp_path: Path) -> None:
    bogus = tmp_path / "vgg16-encoder.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        load_encoder(bogus, "vgg16", None)


def test_colorizer_runs_a_hypercolumn_generator_at_full_size(tmp_path: Path, encoder_file: Path) -> None:
    c = Colorizer.from_checkpoint(_generator_file(tmp_path, encoder_file))
    gray = (np.random.default_rng(0).random((50, 77)) * 255).astype(np.uint8)
    out = c.colorize_photo(Photo(gray))
    assert out.pixels.shape == (50, 77, 3)


def test_annealed_mean_temperature() -> None:
    centers = ab_bin_centers(TINY_DECODER)
    assert centers.shape == (TINY_DECODER.bins_per_axis**2, 2)
    logits = torch.zeros(1, len(centers), 1, 1)
    red = int(((centers - torch.tensor([60.0, 40.0])) ** 2).sum(1).argmin())
    logits[0, red] = 3.0
    hot = annealed_mean(logits, centers, 1.0)[0, :, 0, 0]
    cold = annealed_mean(logits, centers, 0.1)[0, :, 0, 0]
    assert torch.allclose(cold, centers[red], atol=0.5), "low temperature picks the mode"
    assert hot.norm() < cold.norm(), "the plain mean is pulled to gray by the other bins"


def test_class_loss_is_lowest_at_the_target_and_rebalancing_weighs_rare_colours() -> None:
    ab = torch.tensor([55.0, -30.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4).clone()
    q = TINY_DECODER.bins_per_axis**2
    right = torch.full((1, q, 4, 4), -10.0)
    right[:, nearest_bin(ab, TINY_DECODER)[0, 0, 0]] = 10.0
    wrong = torch.roll(right, 5, dims=1)
    assert class_loss(right, ab, TINY_DECODER, None) < class_loss(wrong, ab, TINY_DECODER, None)
    samples = torch.zeros(1, 2, 10, 10)
    samples[..., :2] = 50.0  # 20 % of pixels coloured, 80 % gray
    prior = ab_prior(samples, TINY_DECODER)
    assert abs(float(prior.sum()) - 1.0) < 1e-5
    w = rebalance_weights(prior, 0.5)
    assert abs(float((prior * w).sum()) - 1.0) < 1e-5
    gray_bin = int(nearest_bin(torch.zeros(1, 2, 1, 1), TINY_DECODER)[0, 0, 0])
    colour_bin = int(nearest_bin(samples[..., :1, :1], TINY_DECODER)[0, 0, 0])
    assert w[colour_bin] > w[gray_bin]
    assert torch.allclose(rebalance_weights(prior, 1.0)[prior > 0], torch.ones(int((prior > 0).sum())))


def test_lowrank_fid_equals_the_matrix_square_root_formula() -> None:
    from scipy import linalg

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 30)), rng.normal(size=(55, 30)) * 1.5 + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert InceptionFID.distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert InceptionFID.distance(a, a) == pytest.approx(0.0, abs=1e-8)


def _photo_folder(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / ("faces" if i % 2 else "scenes")
        sub.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, 3)
        img = np.clip(base + rng.normal(0, 40, (48, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(sub / f"p{i:03d}.jpg")
    return folder


def test_feature_cache_trainer_resume_and_export(tmp_path: Path, encoder_file: Path) -> None:
    from model.training.feature_cache import FeatureCache, build
    from model.training.recipe import Recipe
    from model.training.training_run import train

    photos = _photo_folder(tmp_path / "photos", 12)
    enc = load_encoder(encoder_file, "vgg16", None)
    cache = build(photos, tmp_path / "cache", enc, size=32, held_back_fraction=0.3, batch=4, log=lambda *a: None)
    assert cache.count == 12 and cache.arrays["f3"].shape[1:] == (256, 9, 9)
    again = FeatureCache.open(tmp_path / "cache")  # reopening (a resumed build) sees the same photos
    assert again.files == cache.files and again.held_back.any() and not again.held_back.all()
    run = tmp_path / "run"
    run.mkdir()
    (run / encoder_file.name).write_bytes(encoder_file.read_bytes())  # no ImageNet download in tests
    recipe = Recipe(
        cache=str(tmp_path / "cache"),
        generator=TINY_DECODER,
        size=32,
        batch_size=4,
        steps=3,
        rebalance=0.5,
        min_colorfulness=0.0,
        eval_photos=8,
    )
    t = train(recipe, run, log=lambda *a: None)
    assert t.step == 3 and t.images_seen == 12
    assert {"state.pt", "latest.safetensors", "best.safetensors", "evals.jsonl", "metrics.csv", "recipe.json"} <= {
        p.name for p in run.iterdir()
    }
    evals = [json.loads(x) for x in (run / "evals.jsonl").read_text().splitlines()]
    assert {e["decode"] for e in evals} == {"regression", "classes"}
    t2 = train(Recipe(**{**recipe.__dict__, "steps": 5}), run, log=lambda *a: None)  # resumes, does not restart
    assert t2.step == 5 and t2.images_seen == 20
    best = read_generator(run / "best.safetensors")
    assert best.info["selection"]["step"] in (3, 5) and best.render_size == 32
    Colorizer.from_checkpoint(run / "best.safetensors").colorize_photo(Photo(np.zeros((20, 30), np.uint8)))

    from model.checkpoint import checksum_path, sha256_of
    from model.training.export import export_run

    shipped = export_run(run, tmp_path / "weights" / "heirloom-generator.safetensors", notes="test")
    enc = tmp_path / "weights" / encoder_file.name
    assert enc.exists() and checksum_path(enc).read_text().split()[0] == sha256_of(enc)
    assert read_generator(shipped).encoder_path == enc  # named beside it, not in the run folder
    c = Colorizer.from_checkpoint(shipped)  # both checksums verified
    assert c.info["notes"] == "test" and c.info["selection"]["decode"] in ("regression", "classes")


def _gpu_env(tmp_path: Path, encoder_file: Path) -> dict[str, str]:
    """The GPU script's environment for one step of a tiny decoder on a packed shard of 10 generated photos, its
    $OUT/run holding the test encoder file (no ImageNet weights in tests)."""
    from model.training.onthefly import pack_shard

    photos = _photo_folder(tmp_path / "photos", 10)
    shard = pack_shard(photos, tmp_path / "data" / "shard.npz", size=32, max_mb=1, log=lambda *a: None)
    _stage_encoder(tmp_path / "out", encoder_file)
    return {
        "HEIRLOOM_GPU_SHARDS": str(shard),
        "OUT": str(tmp_path / "out"),
        "HEIRLOOM_GPU_MINUTES": "0.01",
        "HEIRLOOM_GPU_INIT": "none",  # the shipped decoder is wider than this tiny recipe
        "HEIRLOOM_GPU_SET": "generator.width=16 generator.stem=8 size=32 batch_size=4 steps=1 min_colorfulness=0 "
        "eval_photos=8 held_back_fraction=0.3",
        "PYTHON": sys.executable,
        "PATH": "/usr/bin:/bin",
    }


def _stage_encoder(out: Path, encoder_file: Path) -> None:
    (out / "run").mkdir(parents=True)  # the script deletes it after each run
    (out / "run" / encoder_file.name).write_bytes(encoder_file.read_bytes())


def _gpu_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = ["bash", str(REPO / "gpu" / "train_on_device.sh")]
    r = subprocess.run(script, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_gpu_recipe_smoke_on_cpu(tmp_path: Path, encoder_file: Path) -> None:
    """The GPU script's path (shard -> on-the-fly features -> train -> results in $OUT), one step on CPU."""
    env = _gpu_env(tmp_path, encoder_file)
    out = tmp_path / "out"
    _gpu_script(env)
    assert (out / "best.safetensors").exists() and (out / "evals.jsonl").exists()
    assert len([p for p in out.iterdir() if p.is_file()]) <= 8, "the device returns at most 8 files"
    # Every evaluation's generator comes back too, to be scored with FID at home (the device has no Inception)
    import tarfile

    home = tmp_path / "home"
    with tarfile.open(out / "snapshots.tar") as tar:
        tar.extractall(home, filter="data")
    evals = [json.loads(x) for x in (out / "evals.jsonl").read_text().splitlines()]
    snaps = sorted(home.iterdir())
    assert [p.name for p in snaps] == [f"snapshot-step-{s:07d}.safetensors" for s in sorted({e["step"] for e in evals})]
    (home / encoder_file.name).write_bytes(encoder_file.read_bytes())
    assert read_generator(snaps[-1]).info["step"] == evals[-1]["step"]
    (out / "snapshots.tar").unlink()

    # The default warm start continues a decoder narrower than the GPU defaults (the shipped one is):
    # the script takes the init's shape, so no generator.width/stem need be given.
    init = tmp_path / "init.safetensors"
    (out / "best.safetensors").rename(init)
    _stage_encoder(out, encoder_file)
    env["HEIRLOOM_GPU_INIT"] = str(init)
    env["HEIRLOOM_GPU_SET"] = "size=32 batch_size=4 steps=1 min_colorfulness=0 eval_photos=8 held_back_fraction=0.3"
    # ... with a projected critic, whose AlexNet the device has only as the file staged beside the shard
    env["HEIRLOOM_GPU_SET"] += " gan_weight=0.1 d_kind=projected"
    from model.encoders import AlexNetEncoder
    from model.training.generator_file import save_encoder

    env["HEIRLOOM_GPU_CRITIC"] = str(save_encoder(tmp_path / "data" / "critic.safetensors", AlexNetEncoder(), "test"))
    grows = tmp_path / "grows.json"  # a recipe that grows what the init lacks (as heirloom-v8 a conv5 block)
    grows.write_text(json.dumps({"generator": {"encoder": "vgg16", "blocks": 2, "context": 256, "tune_top": True}}))
    env["HEIRLOOM_GPU_RECIPE"] = str(grows)
    r = _gpu_script(env)
    assert "warm start from" in r.stdout
    assert json.loads((out / "recipe.json").read_text())["d_kind"] == "projected"
    cfg = read_generator(out / "latest.safetensors").config
    assert (cfg.width, cfg.stem) == (16, 8)
    assert cfg.tune_top, "the init's shape does not undo what the recipe grows"
    # The warm-started file carries the first run's totals as its lineage (lineage.py).
    from model.training.lineage import stage_of, totals

    info, first = read_generator(out / "latest.safetensors").info, read_generator(init).info
    assert first["lineage"] == [] and first["device"] == "cpu" and first["images_seen"] == 4
    assert info["lineage"] == [stage_of(first, "init.safetensors")]
    assert totals(info)["images_seen"] == 4 + info["images_seen"] and totals(info)["runs"] == 2


def test_warm_start_of_another_shape_names_the_overrides(tmp_path: Path, encoder_file: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.recipe import Recipe

    run = tmp_path / "run"
    run.mkdir()
    (run / encoder_file.name).write_bytes(encoder_file.read_bytes())
    init = _generator_file(tmp_path, encoder_file)
    wider = Recipe(generator=replace(TINY_DECODER, width=TINY_DECODER.width * 2), size=32, init=str(init))
    with pytest.raises(
        ValueError, match=f"--set generator.width={TINY_DECODER.width} --set generator.stem={TINY_DECODER.stem}"
    ):
        GeneratorTrainer(wider, run, source=None, device="cpu", log=lambda *a: None)  # type: ignore[arg-type]


def test_a_run_trains_on_the_shipped_encoder_file_itself(tmp_path: Path) -> None:
    """Byte for byte, so the generator it exports names the SHA-256 that weights/ already holds."""
    from model.checkpoint import DEFAULT_WEIGHTS, sha256_of
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.recipe import Recipe

    shipped = DEFAULT_WEIGHTS.parent / encoder_filename("vgg16")
    run = tmp_path / "run"
    GeneratorTrainer(Recipe(generator=TINY_DECODER, size=32), run, source=None, device="cpu", log=lambda *a: None)  # type: ignore[arg-type]
    assert sha256_of(run / shipped.name) == sha256_of(shipped)


def test_gpu_script_returns_a_generator_too_big_for_one_file_in_parts(tmp_path: Path, encoder_file: Path) -> None:
    """The device returns 8 files of at most 16 MiB; a generator with a trained conv5 block is ~17 MB."""
    env = _gpu_env(tmp_path, encoder_file)
    env["HEIRLOOM_GPU_FILE_KB"] = "300"  # the tiny generator (~0.8 MB with its context) stands in for a big one
    r = _gpu_script(env)
    out = tmp_path / "out"
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert len(files) <= 8 and all(p.stat().st_size <= 300 * 1024 for p in out.iterdir() if p.is_file())
    parts = sorted(out.glob("best.safetensors.part-*"))
    assert len(parts) > 1 and "best.safetensors comes back in" in r.stdout
    assert "evals.jsonl" in files, "what is needed most comes back before the rest"
    assert "not returned: state.pt" in r.stdout  # a training state over the limit is said, not silently lost
    assert "not returned: latest.safetensors (the device returns 8 files)" in r.stdout
    joined = tmp_path / "best.safetensors"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    (tmp_path / encoder_file.name).write_bytes(encoder_file.read_bytes())
    assert read_generator(joined).config.width == 16  # the parts make the file again, strictly readable
