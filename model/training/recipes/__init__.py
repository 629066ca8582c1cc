"""The shipped recipes, one JSON file each (as nanoGPT's config presets): each sets only what differs
from `Recipe`'s defaults. Light (no torch): `heirloom train --help` lists them at once."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import ConfigError

FOLDER = Path(__file__).parent
DEFAULT = "heirloom"
# The retired trainer's preset names, so that old commands still run (`--preset seed-part2`).
ALIASES = {
    "seed-part1": "pix2pix-part1",
    "seed-part2": "pix2pix-part2",
    "seed-part4": "pix2pix-part4",
    "cpu-small": DEFAULT,
}


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.json"))


def about() -> dict[str, str]:
    """Each shipped recipe's one-line description."""
    return {name: json.loads((FOLDER / f"{name}.json").read_text()).get("about", "") for name in names()}


def recipe_file(name_or_path: str) -> Path:
    """A shipped recipe's file by name (or a retired preset's name), else a path to one's own."""
    name = ALIASES.get(name_or_path, name_or_path)
    if (FOLDER / f"{name}.json").is_file():
        return FOLDER / f"{name}.json"
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise ConfigError(f"no recipe {name_or_path!r}: give a file, or one of {', '.join(names())}")
