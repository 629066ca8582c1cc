"""folder_weights: on-the-fly views drawn by top-level folder, so the few photos of varied scenes are seen more
often than the many of ten classes and faces; the held-back slice stays the same photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.errors import ConfigError
from model.training.onthefly import OnTheFlySource, drawing_weights
from model.training.recipe import Recipe, load_recipe
from model.training.sources import CachedSource

from engine_helpers import write_photos

CPU = torch.device("cpu")
QUIET = {"log": lambda *a: None}


def _photos(tmp_path: Path) -> Path:
    """Six gradient photos in `many/`, two plain red ones in `few/`."""
    root = tmp_path / "photos"
    write_photos(root / "many", 6, (40, 40))
    (root / "few").mkdir()
    for i in range(2):
        Image.new("RGB", (40, 40), (220, 30, 30)).save(root / "few" / f"red{i}.png")
    return root


def _red_share(recipe: Recipe) -> float:
    views = OnTheFlySource(recipe, CPU, **QUIET).sample_photos(np.random.default_rng(0), 4000)
    return float((views[..., 0].mean(axis=(1, 2)) > 180).mean())


def test_views_are_drawn_in_proportion_to_their_folders_weight(tmp_path: Path) -> None:
    base = Recipe(photos=str(_photos(tmp_path)), size=32, min_colorfulness=0.0, held_back_fraction=0.0, crop_area=1.0)
    assert _red_share(base) == pytest.approx(2 / 8, abs=0.03)  # uniform: 2 of 8 photos
    weighted = Recipe(**{**base.to_dict(), "folder_weights": {"few": 6.0}, "generator": base.generator})
    assert _red_share(weighted) == pytest.approx(12 / 18, abs=0.03)  # 2 photos x 6 against 6 x 1
    left_out = Recipe(**{**base.to_dict(), "folder_weights": {"few": 0.0}, "generator": base.generator})
    assert _red_share(left_out) == 0


def test_cumulative_weights_and_the_shares_it_reports() -> None:
    said: list[str] = []
    cum = drawing_weights(["a/1.jpg", "a/2.jpg", "b/3.jpg"], {"b": 2.0}, said.append)
    assert cum is not None and list(cum) == [1.0, 2.0, 4.0]
    assert said == ["views drawn by folder weight: a 50%, b 50%"]
    assert drawing_weights(["a/1.jpg"], {}) is None  # uniform draws keep the runs' random streams as they were


def test_a_misspelt_folder_a_negative_weight_or_a_feature_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no training photos in imagenet_sample .*folders: a, b"):
        drawing_weights(["a/1.jpg", "b/2.jpg"], {"imagenet_sample": 6.0})
    with pytest.raises(ConfigError, match="leave no photo"):
        drawing_weights(["a/1.jpg"], {"a": 0.0})
    with pytest.raises(ConfigError, match="0 or more"):
        Recipe.from_dict({"folder_weights": {"a": -1}})
    with pytest.raises(ConfigError, match="not a feature cache"):
        CachedSource(None, Recipe(folder_weights={"a": 2.0}))


def test_the_v10_recipe_weights_folders_of_the_training_set() -> None:
    weights = load_recipe("heirloom-v10").folder_weights
    assert weights and all(w > 1 for w in weights.values())
