"""A training run in its folder: the recipe stored on first start and the run's own recipe on every
resume (budgets and threads from the command), the batches' source, the trainer (`GeneratorTrainer`) resumed
from its state, and Ctrl-C / SIGTERM that stop it between steps with everything saved."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path

import torch

from ..errors import ConfigError
from ..pipeline import pick_device
from .distributed import init_distributed
from .generator_trainer import GeneratorTrainer
from .recipe import Recipe
from .sources import CachedSource, Source


def _stop_between_steps(trainer: GeneratorTrainer) -> None:
    def request(signum, frame):
        trainer.stop_requested = True

    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def train(
    recipe: Recipe,
    run_dir: str | Path,
    resume: bool = True,
    device: str | None = None,
    source: Source | None = None,
    log=print,
) -> GeneratorTrainer:
    """Train (or continue training) in `run_dir`; the recipe is stored there on first start. Under
    `torchrun` every rank runs this; rank 0 alone writes."""
    dist_info = init_distributed()
    if not dist_info.main:
        log = lambda *a, **k: None  # noqa: E731
    run_dir = Path(run_dir)
    recipe_path = run_dir / "recipe.json"
    if resume and recipe_path.exists():
        stored = Recipe.from_dict(json.loads(recipe_path.read_text()))
        continued = replace(  # the run's own recipe; budgets and threads from the command
            stored,
            cpu_hours=recipe.cpu_hours,
            wall_minutes=recipe.wall_minutes,
            steps=recipe.steps,
            threads=recipe.threads,
            eval_minutes=recipe.eval_minutes,
        )
        if continued != recipe:
            log(f"note: {run_dir} was started with another recipe; continuing with its own (budgets from the command)")
        recipe = continued
    dist_info.barrier()  # every rank has read the stored recipe before rank 0 rewrites it
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        recipe_path.write_text(json.dumps(recipe.to_dict(), indent=2))
    if source is None:
        source = _source(recipe, pick_device(device) if device else dist_info.device(), log)
    trainer = GeneratorTrainer(recipe, run_dir, source, device, log, dist_info)
    if resume and trainer.state_path.exists():
        trainer.load_state()
        log(
            f"resumed at step {trainer.step} ({trainer.images_seen} photos seen, "
            f"{trainer.cpu_seconds / 3600:.2f} CPU-hours)"
        )
    if threading.current_thread() is threading.main_thread():
        _stop_between_steps(trainer)
    trainer.fit()
    return trainer


def _source(recipe: Recipe, device: torch.device, log) -> Source:
    """Where the batches come from: a feature cache, or the photos (the encoder run per batch)."""
    if recipe.cache:
        from .feature_cache import FeatureCache

        if recipe.generator.encoder == "none":
            raise ConfigError("a feature cache holds a frozen encoder's features: encoder=none trains on --photos")
        return CachedSource(FeatureCache.open(recipe.cache), recipe)
    if recipe.photos:
        from .onthefly import OnTheFlySource

        return OnTheFlySource(recipe, device, log)
    raise ConfigError("give the photos to train on (a folder or .npz shard), or --cache DIR of features")
