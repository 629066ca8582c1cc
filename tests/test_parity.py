"""One engine behind every door: the same generated images and options through `POST /colorize`,
`heirloom colorize` and `heirloom evaluate` give identical pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heirloom.cli import main
from model import Colorized, ColorizeOptions, Colorizer
from model.color import gray_of
from model.photo_io import Photo, Source, load_photo

from app_helpers import client_for, settings_for
from engine_helpers import photo_array

OPTIONS = [
    {},
    {"render_size": 64, "policy": "stretch", "saturation": 1.5},
    {"policy": "rotate-portrait", "saturation": 0.5},
]


@pytest.mark.parametrize("options", OPTIONS, ids=["defaults", "stretch-64", "rotate-portrait"])
def test_app_cli_and_evaluate_give_identical_pixels(
    tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch, options: dict
) -> None:
    reals = [photo_array(37, 53, seed=1), photo_array(60, 24, seed=2)]  # colour photos, for evaluate
    grays = [gray_of(r) for r in reals]  # what evaluate feeds the model; the app and the CLI get these files
    scans, truth = tmp_path / "scans", tmp_path / "truth"
    scans.mkdir()
    truth.mkdir()
    for i, (gray, real) in enumerate(zip(grays, reals)):
        Image.fromarray(gray).save(scans / f"p{i}.png")
        Image.fromarray(real).save(truth / f"p{i}.png")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]

    with client_for(settings_for(tmp_path / "data", tiny_weights)) as client:
        api = []
        for i in range(2):
            r = client.post(
                "/colorize",
                files={"file": ("p.png", (scans / f"p{i}.png").read_bytes(), "image/png")},
                data={k: str(v) for k, v in options.items()},
            )
            assert r.status_code == 200, r.text
            api.append(load_photo(r.content).pixels)

    assert main(["colorize", str(scans), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), *flags]) == 0
    cli = [load_photo(tmp_path / "out" / f"p{i}.png").pixels for i in range(2)]

    scored = []  # evaluate's colorized arrays, caught on their way to scoring
    colorize = Colorizer.colorize

    def spy(self: Colorizer, source: Source | Photo, opts: ColorizeOptions | None = None) -> Colorized:
        result = colorize(self, source, opts)
        scored.append(result.photo.pixels.copy())
        return result

    monkeypatch.setattr(Colorizer, "colorize", spy)
    assert (
        main(["evaluate", str(truth), "-o", str(tmp_path / "eval"), "--weights", str(tiny_weights), "--no-fid", *flags])
        == 0
    )

    assert len(api) == len(cli) == len(scored) == 2
    for gray, a, c, e in zip(grays, api, cli, scored):
        assert a.shape == gray.shape and np.abs(a.astype(int) - gray).max() > 0  # coloured, same size
        assert np.array_equal(a, c) and np.array_equal(a, e)
