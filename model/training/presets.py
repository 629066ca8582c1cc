"""The training presets by name, with what each is for. Light (no torch), so `heirloom train --help`
lists them at once; the configs themselves are `config.PRESETS`, under the same names."""

from __future__ import annotations

PRESET_HELP = {
    "seed-part1": "the write-up's part 1: BCE, batch-norm D, D every step, 256 px",
    "seed-part2": "part 2: hinge, instance-norm D, D every 2nd step, 4x4 patch grid",
    "seed-part4": "part 2 at 352 px with an 11x11 patch grid",
    "cpu-small": "a 4M-parameter U-Net sized for 2 CPU cores, 128 px",
}
