"""The hypercolumn generator's encoders: frozen ImageNet ones (VGG16, AlexNet) with their own weights
file, and `none`, the plain pix2pix encoder trained from scratch with the decoder.

A frozen encoder is a named, separate part of the generator: its float16 weights are stored once in
`weights/<name>-encoder.safetensors`, and every generator file that uses it names that file and its
SHA-256. Retraining the decoder then re-commits only the decoder, and a swapped or damaged encoder
file is refused at load instead of silently colouring with the wrong features. A trained encoder's
weights are part of the generator file itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError
from .weights_file import read_safetensors, sha256_of

ENCODER_FORMAT = "heirloom.encoder"


class BlurDown(nn.Module):
    """Anti-aliased stride-2 downsampling (Zhang 2019): reflect pad 2, [1 2 1]² blur, per channel."""

    filt: torch.Tensor

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = (a[:, None] * a[None, :]) / 16
        self.register_buffer("filt", filt[None, None].repeat(channels, 1, 1, 1), persistent=False)
        self.pad = nn.ReflectionPad2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(self.pad(x), self.filt, stride=2, groups=x.shape[1])


class MaxPoolStride1(nn.Module):
    """nn.MaxPool2d(k, stride=1) as k - 1 elementwise maxima per axis: the same numbers, ~10x faster on CPU
    (PyTorch's stride-1 max-pool kernel took as long as a convolution: ~12 % of VGG16's forward)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] - self.k + 1, x.shape[-1] - self.k + 1
        rows = x[..., :h, :]
        for i in range(1, self.k):
            rows = torch.maximum(rows, x[..., i : i + h, :])
        out = rows[..., :w]
        for j in range(1, self.k):
            out = torch.maximum(out, rows[..., j : j + w])
        return out


class FrozenEncoder(nn.Module):
    """A frozen ImageNet conv stack of ST-LPIPS (shift-tolerant: blur-pooled) that taps three depths.

    (B, 1, H, W) L normalised to [-1, 1] -> three feature maps, fine to coarse. Gray goes in as three
    equal channels with the network's own normalisation. Layer indices match the published weights
    (`features.IDX.*`); subclasses build `features` and name the ReLUs they tap.
    """

    name = ""
    frozen = True  # its weights come from ImageNet, in their own file; the decoder learns around them
    channels: tuple[int, int, int] = (0, 0, 0)
    taps: tuple[int, int, int] = (0, 0, 0)  # indices in `features` of the tapped ReLUs
    MIN_SIDE = 32  # the reflect-padded blurs of the deepest level need this much
    shift: torch.Tensor
    scale: torch.Tensor
    features: nn.Sequential

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None], persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None], persistent=False)

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenEncoder:
        return super().train(False)  # frozen: no dropout/norm state, always eval

    def run(self, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        """Normalised 3-channel input -> the outputs of layers `taps` (ascending), stopping at the last."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                out.append(x)
                if i == taps[-1]:
                    break
        return out

    def forward(self, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, w = l.shape[-2:]
        if min(h, w) < self.MIN_SIDE:
            l = nn.functional.interpolate(
                l, size=(max(h, self.MIN_SIDE), max(w, self.MIN_SIDE)), mode="bilinear", align_corners=False
            )
        f1, f2, f3 = self.run((l.expand(-1, 3, -1, -1) - self.shift) / self.scale, self.taps)
        return f1, f2, f3


# VGG16 configuration "D": channels per conv, "M" = max-pool(2, stride 1) + blur-downsample.
_VGG16: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
# Index in `features` of the ReLU after each named conv: the hypercolumn taps (and a perceptual loss's).
VGG16_TAPS = {"relu1_2": 3, "relu2_2": 9, "relu3_3": 17, "relu4_3": 25, "relu5_3": 33}


class VGG16Encoder(FrozenEncoder):
    """VGG16 (14.7M): relu3_3 (B, 256, ~H/4), relu4_3 (B, 512, ~H/8), relu5_3 (B, 512, ~H/16)."""

    name = "vgg16"
    channels = (256, 512, 512)
    taps = (VGG16_TAPS["relu3_3"], VGG16_TAPS["relu4_3"], VGG16_TAPS["relu5_3"])

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG16:
            if v == "M":
                layers += [MaxPoolStride1(2), BlurDown(cin)]
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.freeze()


def vgg16_block5() -> nn.Sequential:
    """VGG16's last block as it follows relu4_3: the pool, then conv5_1..conv5_3 with their ReLUs (relu4_3 ->
    relu5_3, layers 26..33 of `features`). A decoder with `tune_top` trains this copy as its own."""
    c = 512
    layers: list[nn.Module] = [MaxPoolStride1(2), BlurDown(c)]
    for _ in range(3):
        layers += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def copy_block5(block: nn.Sequential, encoder: FrozenEncoder) -> None:
    """Load `block` (vgg16_block5) with the ImageNet weights of `encoder`'s own conv5 block."""
    if not isinstance(encoder, VGG16Encoder):
        raise ValueError(f"only VGG16 has a conv5 block to copy, not {encoder.name!r}")
    first = VGG16_TAPS["relu4_3"] + 1
    for i, layer in enumerate(block):
        source = encoder.features[first + i]
        if type(layer) is not type(source):
            raise ValueError(f"block layer {i} is a {type(layer).__name__}, the encoder's a {type(source).__name__}")
        layer.load_state_dict(source.state_dict(), strict=True)


class AlexNetEncoder(FrozenEncoder):
    """AlexNet (2.5M), the light option: relu2 (B, 192, ~H/4), relu3 (B, 384, ~H/8), relu5 (B, 256, ~H/8).
    Its last three convs share one scale; the decoder brings every tap to its neighbour's size anyway."""

    name = "alexnet"
    channels = (192, 384, 256)
    taps = (6, 10, 14)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 1, 2),
            BlurDown(64),
            nn.ReLU(inplace=True),
            MaxPoolStride1(3),
            BlurDown(64),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),  # 6
            MaxPoolStride1(3),
            BlurDown(192),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),  # 10
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),  # 14
        )
        self.freeze()


class ScratchEncoder(nn.Module):
    """encoder=none: the plain pix2pix U-Net's encoder, trained from scratch with the decoder. 4×4 stride-2
    convs with LeakyReLU 0.2, tapped at 1/4, 1/8 and 1/16 like the ImageNet encoders so that the same
    decoder climbs back up. GroupNorm, not BatchNorm: one scan at inference must see what a batch saw."""

    name = "none"
    frozen = False

    def __init__(self, width: int = 64):
        super().__init__()
        self.channels = (2 * width, 4 * width, min(8 * width, 512))
        widths = (width, *self.channels)
        levels: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip((1, *widths[:-1]), widths)):
            norm = nn.GroupNorm(min(8, cout), cout) if i else nn.Identity()  # pix2pix: none at the outermost
            levels.append(nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), norm, nn.LeakyReLU(0.2, inplace=True)))
        self.levels = nn.ModuleList(levels)

    def forward(self, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.levels[0](l)  # 1/2
        f3 = self.levels[1](h)  # 1/4
        f4 = self.levels[2](f3)  # 1/8
        return f3, f4, self.levels[3](f4)  # 1/16


Encoder = FrozenEncoder | ScratchEncoder
FROZEN: dict[str, type[FrozenEncoder]] = {"vgg16": VGG16Encoder, "alexnet": AlexNetEncoder}
ENCODER_NAMES = (*FROZEN, ScratchEncoder.name)


def make_encoder(name: str, width: int = 64) -> Encoder:
    """`width`: the first level's channels of a trained (`none`) encoder; a frozen one has its own."""
    if name == ScratchEncoder.name:
        return ScratchEncoder(width)
    if name not in FROZEN:
        raise ValueError(f"unknown encoder {name!r} ({', '.join(ENCODER_NAMES)})")
    return FROZEN[name]()


def encoder_filename(name: str) -> str:
    return f"{name}-encoder.safetensors"


def load_encoder(path: str | os.PathLike[str], name: str, sha256: str | None) -> FrozenEncoder:
    """Build `name` and load its weights strictly from `path`, checking the SHA-256 first."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"The generator needs its encoder weights {path.name}, not found at {path}.")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise CheckpointError(
                f"The encoder weights {path} are not the ones this generator was trained "
                f"with: SHA-256 {actual[:16]}…, expected {sha256[:16]}…."
            )
    meta, state = read_safetensors(path, "encoder weights file")
    if meta.get("format") != ENCODER_FORMAT or meta.get("encoder") != name:
        raise CheckpointError(f"{path} holds {meta.get('encoder')!r} ({meta.get('format')}), not the {name} encoder.")
    if name not in FROZEN:
        raise CheckpointError(f"{name!r} is not a frozen encoder with its own weights file")
    enc = FROZEN[name]()
    try:
        enc.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match the {name} encoder: {e}") from e
    return enc
