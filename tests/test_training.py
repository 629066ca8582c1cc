"""The one trainer end to end on tiny generated photos: every shipped recipe trains a few steps on the
CPU, resumes exactly, stops cleanly, exports; recipes and overrides are strict (after diffusers' example
tests). Never ../shared data."""

import csv
import json
from pathlib import Path

import pytest
import torch

from heirloom.cli import main
from model import CheckpointError, Colorizer
from model.training import recipes
from model.training.gan_phase import GanPhase
from model.training.losses import d_loss, g_loss
from model.training.recipe import Recipe, load_recipe

from engine_helpers import write_photos

# The shipped architecture in miniature, encoder trained from scratch, with a GAN from the first step.
TINY = [
    "generator.encoder=none",
    "generator.encoder_width=2",
    "generator.width=8",
    "generator.stem=4",
    "size=32",
    "batch_size=2",
    "gan_weight=1",
    "gan_from=0",
    "gan_grid=4",
    "d_width=8",
    "d_every=2",
    "held_back_fraction=0.25",
    "min_colorfulness=1",
    "threads=1",
]


def _sets(items: list[str]) -> list[str]:
    return [arg for kv in items for arg in ("--set", kv)]


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photos(folder / "nested", 10)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    from PIL import Image

    Image.new("RGB", (40, 40), (128, 128, 128)).save(folder / "gray.png")  # dropped as near-gray
    return folder


def _train(photos: Path, run: Path, steps: int, *extra: str) -> None:
    assert main(["train", str(photos), "--run", str(run), "--steps", str(steps), *_sets(TINY), *extra]) == 0


@pytest.mark.parametrize("name", recipes.names())
def test_every_shipped_recipe_trains_exports_and_colorizes(name: str, photos: Path, tmp_path: Path) -> None:
    """Each recipe as it ships (its sizes, encoder, losses, patch grid), two small steps."""
    run, shipped = tmp_path / "run", tmp_path / "ship" / "g.safetensors"
    recipe = load_recipe(name)
    for folder in recipe.folder_weights:  # the training set's folders it draws by weight
        write_photos(photos / folder, 2)
    small = ["batch_size=2", "held_back_fraction=0.25", "min_colorfulness=1", "threads=1", "compile=false"]
    assert main(["train", str(photos), "--recipe", name, "--run", str(run), "--steps", "2", *_sets(small)]) == 0
    stored = Recipe.from_dict(json.loads((run / "recipe.json").read_text()))
    assert (stored.size, stored.generator, stored.gan_loss, stored.gan_grid) == (
        recipe.size,
        recipe.generator,
        recipe.gan_loss,
        recipe.gan_grid,
    )
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 2
    if recipe.gan_weight:  # the write-up's discriminator, stepped at its rate
        d_steps = {int(v["step"]) for v in state["gan"]["opt"]["state"].values()}
        assert d_steps == {2 // recipe.d_every}
    assert main(["export", str(run), "-o", str(shipped)]) == 0
    c = Colorizer.from_checkpoint(shipped)  # checksum verified
    assert c.default_render_size == recipe.size and c.info["step"] == 2
    assert c.info["recipe"]["generator"]["encoder"] == recipe.generator.encoder
    assert (shipped.parent / "vgg16-encoder.safetensors").exists() == (recipe.generator.encoder == "vgg16")


@pytest.mark.parametrize(("name", "grid"), [("pix2pix-part1", 4), ("pix2pix-part2", 4), ("pix2pix-part4", 11)])
def test_pix2pix_recipes_judge_the_write_ups_patch_grid(name: str, grid: int) -> None:
    recipe = load_recipe(name)
    gan = GanPhase(recipe, torch.device("cpu"))
    l = torch.zeros(1, 1, recipe.size, recipe.size)
    ab = torch.zeros(1, 2, recipe.size // 2, recipe.size // 2)
    assert [x.shape for x in gan.judge(l, ab)] == [(1, 1, grid, grid)]
    assert recipe.generator.encoder == "none" and recipe.lr == 2e-4 and recipe.l1_weight == 100


def test_smoke_run_leaves_its_artifacts(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    _train(photos, run, 4, "--set", "eval_minutes=0")
    out = capsys.readouterr().out
    assert "skipped 1 unreadable" in out and "1 near-gray" in out
    assert "encoder none trained with it" in out
    for name in ("recipe.json", "state.pt", "latest.safetensors", "best.safetensors", "evals.jsonl", "metrics.csv"):
        assert (run / name).exists(), name
    state = torch.load(run / "state.pt", weights_only=True)
    assert {int(v["step"]) for v in state["gan"]["opt"]["state"].values()} == {2}  # D at half the rate of G
    assert {int(v["step"]) for v in state["opt"]["state"].values()} == {4}
    assert any(k.startswith("encoder.") for k in state["decoder"])  # encoder=none: all of it learns
    assert list(csv.reader((run / "metrics.csv").open()))[0][:3] == ["step", "images_seen", "cpu_hours"]
    assert f"(best generator: {run / 'best.safetensors'}; latest generator: {run / 'latest.safetensors'})" in out


def test_a_run_scored_on_nothing_names_no_best_generator(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a missing best.safetensors, nor one that an earlier run in the folder left before --restart."""
    run = tmp_path / "run"
    _train(photos, run, 2, "--set", "eval_photos=0")
    out = capsys.readouterr().out
    assert not (run / "best.safetensors").exists() and (run / "latest.safetensors").is_file()
    assert f"(not scored; latest generator: {run / 'latest.safetensors'})" in out and "best generator" not in out
    scored = tmp_path / "scored"
    _train(photos, scored, 2, "--set", "eval_minutes=0")
    assert "(best generator:" in capsys.readouterr().out and (scored / "best.safetensors").is_file()
    _train(photos, scored, 2, "--restart", "--set", "eval_photos=0")  # the old best.safetensors stays on disk
    assert "(not scored; latest generator:" in capsys.readouterr().out and (scored / "best.safetensors").is_file()


def test_resume_continues_exactly(photos: Path, tmp_path: Path) -> None:
    straight, half = tmp_path / "a", tmp_path / "b"
    _train(photos, straight, 4)
    _train(photos, half, 2)
    assert main(["train", "--resume", str(half), "--steps", "4"]) == 0
    s1, s2 = (torch.load(r / "state.pt", weights_only=True) for r in (straight, half))
    assert s2["step"] == 4
    for key in ("decoder", "ema"):
        for k in s1[key]:
            assert torch.allclose(s1[key][k].float(), s2[key][k].float(), atol=1e-6), (key, k)
    for k in s1["gan"]["D"]:
        assert torch.allclose(s1["gan"]["D"][k].float(), s2["gan"]["D"][k].float(), atol=1e-6), k
    assert json.loads((half / "recipe.json").read_text())["steps"] == 4


def test_stop_request_checkpoints_at_a_step_boundary(photos: Path, tmp_path: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.onthefly import OnTheFlySource

    recipe = load_recipe(None, [*TINY, f"photos={photos}", "steps=50"])
    trainer = GeneratorTrainer(recipe, tmp_path / "run", OnTheFlySource(recipe, torch.device("cpu")), "cpu")
    original = trainer.train_step

    def step_then_stop() -> dict:
        row = original()
        if trainer.step == 3:
            trainer.stop_requested = True  # what Ctrl-C / SIGTERM does
        return row

    trainer.train_step = step_then_stop  # type: ignore[method-assign]
    trainer.fit()
    assert torch.load(trainer.state_path, weights_only=True)["step"] == 3
    assert (tmp_path / "run" / "latest.safetensors").exists()


def test_linear_schedule_holds_then_decays_to_zero(photos: Path, tmp_path: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.onthefly import OnTheFlySource

    recipe = load_recipe(None, [*TINY, f"photos={photos}", "steps=100", "lr_schedule=linear", "lr=0.001"])
    t = GeneratorTrainer(recipe, tmp_path / "run", OnTheFlySource(recipe, torch.device("cpu")), "cpu")
    rates = []
    for step in (0, 50, 75, 100):
        t.step = step
        rates.append(t.lr())
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 0.0])


def test_losses_follow_the_write_up() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert d_loss("hinge", real, fake).item() == pytest.approx(0.5 / 2 + 1.5 / 2)
    assert g_loss("hinge", fake).item() == pytest.approx(0.75)
    assert d_loss("lsgan", torch.ones(3), torch.zeros(3)).item() == 0
    assert d_loss("bce", torch.full((3,), 20.0), torch.full((3,), -20.0)).item() < 1e-6
    with pytest.raises(ValueError):
        d_loss("wgan", real, fake)


def test_recipes_and_overrides_are_strict() -> None:
    assert {"heirloom", "pix2pix-part1", "pix2pix-part2", "pix2pix-part3", "pix2pix-part4"} <= set(recipes.names())
    assert all(recipes.about().values())  # every recipe says what it is for (--help lists it)
    assert load_recipe("seed-part2") == load_recipe("pix2pix-part2")  # the retired preset names still work
    p3, p4 = load_recipe("pix2pix-part3"), load_recipe("pix2pix-part4")
    assert (p3.lr_schedule, p4.lr_schedule) == ("linear", "constant") and p3.size == p4.size == 352
    p1 = load_recipe("pix2pix-part1")
    assert (p1.gan_loss, p1.d_norm, p1.d_every) == ("bce", "batch", 1)
    p2 = load_recipe("pix2pix-part2")
    assert (p2.gan_loss, p2.d_norm, p2.d_every, p2.betas) == ("hinge", "instance", 2, (0.5, 0.999))
    r = load_recipe("pix2pix-part2", ["gan_loss=lsgan", "generator.width=64", "temperatures=[0.5]"])
    assert r.gan_loss == "lsgan" and r.generator.width == 64 and r.temperatures == (0.5,)
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    from model import ConfigError

    for bad, match in (
        (["l2_weight=3"], "unknown recipe keys: l2_weight"),
        (["generator.depth=3"], "generator.depth"),
        (["gan_loss=wgan"], "gan_loss"),
        (["gan_grid=5"], "gan_grid=5"),
        (["size=100"], "multiple of 32"),
        (["lr"], "KEY=VALUE"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_recipe("pix2pix-part2", bad)
    with pytest.raises(ConfigError, match="no recipe 'nope'"):
        load_recipe("nope")


def test_dry_run_prints_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["train", str(tmp_path), "--preset", "seed-part4", "--runs-dir", str(tmp_path / "runs"), "--dry-run"]
    assert main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["recipe"]["size"] == 352 and plan["run"] == str(tmp_path / "runs" / "00000-seed-part4")
    assert not (tmp_path / "runs").exists()


def test_empty_folder_and_missing_photos_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--run", str(tmp_path / "r"), *_sets(TINY)]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["train", "--run", str(tmp_path / "r2")]) == 2
    assert "give the colour photos" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no run to continue" in capsys.readouterr().err


def test_a_retired_unet_file_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    old = tmp_path / "unet.safetensors"  # the header of a file from the retired generation: no architecture field
    save_file(
        {"downs.0.conv.weight": torch.zeros(8, 1, 4, 4)},
        str(old),
        metadata={"format": "heirloom.generator", "format_version": "1", "generator": "{}", "render_size": "256"},
    )
    with pytest.raises(CheckpointError, match="retired from Heirloom: the last version that read it is Heirloom 0.1.0"):
        Colorizer.from_checkpoint(old)
    write_photos(tmp_path / "in", 1)
    assert main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--weights", str(old)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0.1.0" in err
