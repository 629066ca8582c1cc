"""Where the trainer's batches come from: a frozen encoder's features from the memory-mapped cache
(`CachedSource`, CPU), or photos with the encoder run per batch (`onthefly.OnTheFlySource`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from ..errors import ConfigError
from .held_back import Features
from .recipe import Recipe

Batch = tuple[Features, np.ndarray, torch.Tensor | None]  # features, photos, aged input L


class Source(Protocol):
    size: int

    def train_count(self) -> int: ...
    def train_batch(self, rng: np.random.Generator, n: int) -> Batch:
        """Encoder features, the photos (targets), and the generator's input L where it is not the photos'
        own (aged prints): None = the clean L."""
        ...

    def held_back(self, n: int) -> tuple[Features, np.ndarray]: ...
    def sample_photos(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Training views without their features (the colour prior needs only the photos)."""
        ...


class CachedSource:
    """Features from the memory-mapped cache; horizontal flips as the augmentation."""

    def __init__(self, cache, recipe: Recipe):
        if recipe.folder_weights:
            raise ConfigError("folder_weights draws photos by folder: give the photos (--photos), not a feature cache")
        self.cache, self.flip, self.size = cache, recipe.flip, cache.size
        self.train_idx = cache.indices(held_back=False, min_colorfulness=recipe.min_colorfulness)
        self.held_idx = cache.indices(held_back=True, min_colorfulness=recipe.min_colorfulness)

    def train_count(self) -> int:
        return len(self.train_idx)

    def train_batch(self, rng, n):
        idx = self.train_idx[rng.integers(0, len(self.train_idx), n)]
        flip = rng.random(n) < 0.5 if self.flip else None
        feats, rgb = self.cache.batch(idx, flip)
        return feats, rgb, None  # cached features were computed from clean renders: no aging here

    def held_back(self, n):
        return self.cache.batch(self.held_idx[:n])

    def sample_photos(self, rng, n):
        idx = np.sort(self.train_idx[rng.integers(0, len(self.train_idx), n)])
        rgb = np.array(self.cache.arrays["rgb"][idx])
        if self.flip:
            flip = rng.random(n) < 0.5
            rgb[flip] = rgb[flip][:, :, ::-1]
        return rgb
