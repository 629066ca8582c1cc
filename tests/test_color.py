"""Lab conversions against scikit-image (the reference), and the luminance swap."""

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

from model.color import (
    gray_of,
    join_l_ab,
    lab_to_rgb_torch,
    lightness,
    luminance,
    rgb_to_lab,
    rgb_to_lab_torch,
    to_lstar,
)
from model.training.metrics import ciede2000, colorfulness, psnr

RNG = np.random.default_rng(0)
RGB = RNG.random((64, 64, 3))


def test_opencv_lab_matches_skimage():
    assert np.abs(rgb_to_lab(RGB.astype(np.float32)) - rgb2lab(RGB)).max() < 0.5


def test_luminance_matches_skimage_for_float_uint8_and_uint16():
    assert np.abs(luminance(RGB.astype(np.float32)) - rgb2lab(RGB)[..., 0]).max() < 1e-3
    u8 = (RGB * 255).astype(np.uint8)
    assert np.abs(luminance(u8) - rgb2lab(u8)[..., 0]).max() < 1e-3
    u16 = (RGB * 65535).astype(np.uint16)
    assert np.abs(luminance(u16) - rgb2lab(u16 / 65535.0)[..., 0]).max() < 1e-3


def test_torch_lab_round_trip_matches_skimage():
    t = torch.from_numpy(RGB).permute(2, 0, 1)[None].float()
    lab = rgb_to_lab_torch(t)
    assert (lab[0].permute(1, 2, 0).numpy() - rgb2lab(RGB)).__abs__().max() < 1e-2
    back = lab_to_rgb_torch(lab)[0].permute(1, 2, 0).numpy()
    assert np.abs(back - RGB).max() < 1e-3
    assert np.abs(back - lab2rgb(rgb2lab(RGB))).max() < 1e-3


def test_lightness_of_gray_uint8_equals_that_of_gray_rgb():
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(lightness(g), lightness(np.dstack([g] * 3)))
    assert np.abs(to_lstar(lightness(g)) - luminance(g)).max() < 0.5  # 8-bit L quantisation


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_join_keeps_lightness_even_for_impossible_colours(dtype):
    top = np.iinfo(dtype).max
    px = (RNG.random((50, 50, 3)) * top).astype(dtype)
    l = lightness(px)
    ab = RNG.uniform(-300, 300, (50, 50, 2)).astype(np.float32)  # far outside sRGB
    out = join_l_ab(l, ab, dtype)
    assert out.dtype == dtype and out.shape == px.shape
    tol = 1 if dtype == np.uint8 else 0.5
    assert np.abs(lightness(out).astype(np.float32) - l).max() <= tol


def test_gray_of_is_neutral_and_keeps_l():
    px = (RGB * 255).astype(np.uint8)
    g = gray_of(px)
    assert np.abs(g.astype(int) - g[..., :1]).max() <= 1  # R = G = B
    assert np.abs(lightness(g).astype(int) - lightness(px)).max() <= 1


def test_ciede2000_matches_skimage():
    a, b = rgb2lab(RGB), rgb2lab(RNG.random((64, 64, 3)))
    assert np.abs(ciede2000(a, b) - deltaE_ciede2000(a, b)).max() < 1e-6


def test_colorfulness_and_psnr():
    gray = np.full((8, 8, 3), 120, np.uint8)
    assert colorfulness(gray) == 0
    vivid = np.zeros((8, 8, 3), np.uint8)
    vivid[::2, :, 0] = 255
    vivid[1::2, :, 2] = 255
    assert colorfulness(vivid) > 100
    assert psnr(gray, gray) == 100.0
    assert abs(psnr(np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8))) < 1e-6
