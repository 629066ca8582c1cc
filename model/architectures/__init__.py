"""The generator architectures a weights file can name, one module each (as rembg's sessions): adding or
retiring one is a file and a line here. `checkpoint` reads the name from a file's header and asks here;
an architecture class carries its `Config`, builds from it, and loads its own weights (`load_weights`)."""

from __future__ import annotations

from ..errors import CheckpointError
from .hypercolumn import HypercolumnConfig, HypercolumnGenerator

Generator = HypercolumnGenerator
GeneratorConfig = HypercolumnConfig
ARCHITECTURES: dict[str, type[Generator]] = {HypercolumnGenerator.architecture: HypercolumnGenerator}
# Retired architectures -> the last Heirloom release that read them (a file of one gets a one-line answer).
RETIRED = {"unet": "0.1.0"}


def architecture(name: str) -> type[Generator]:
    if name in RETIRED:
        raise CheckpointError(
            f"This file holds a {name!r} generator, an architecture retired from Heirloom: the last version that "
            f"read it is Heirloom {RETIRED[name]}. Retrain it with `heirloom train` (the pix2pix-part* recipes)."
        )
    if name not in ARCHITECTURES:
        raise CheckpointError(f"This file holds a {name!r} generator; this Heirloom knows {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[name]
