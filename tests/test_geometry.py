"""Aspect policies: every policy inverts exactly on odd and extreme sizes; a hand-computed reflect pad."""

import numpy as np
import pytest

from model.geometry import make_plan
from model.options import POLICIES

SIZES = [(1, 1), (3, 1000), (1000, 3), (1001, 333), (333, 1001), (4000, 3000), (64, 64), (31, 17)]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", SIZES)
def test_round_trip_shape_and_canvas(policy, shape):
    plan = make_plan(shape, 64, policy, multiple=16)
    x = np.random.default_rng(0).random(shape + (2,)).astype(np.float32)
    canvas = plan.apply(x)
    assert canvas.shape[:2] == plan.canvas
    assert all(s % 16 == 0 for s in plan.canvas)
    if policy != "pad-multiple":
        assert plan.canvas in [(64, 64), (48, 64)]
    back = plan.invert(canvas)
    assert back.shape == x.shape


@pytest.mark.parametrize(
    "policy", ["pad-reflect", "pad-black", "stretch", "center-crop", "pad-multiple", "rotate-portrait"]
)
def test_invert_is_exact_when_no_resize_is_needed(policy):
    # A photo already at the render scale: the trip must give back the very same pixels.
    shape = {
        "pad-reflect": (40, 64),
        "pad-black": (64, 40),
        "stretch": (64, 64),
        "center-crop": (64, 64),
        "pad-multiple": (50, 64),
        "rotate-portrait": (64, 48),
    }[policy]
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    plan = make_plan(shape, 64, policy, multiple=16)
    assert np.array_equal(plan.invert(plan.apply(x)), x)


def test_rotate_portrait_turns_portraits_only():
    assert make_plan((100, 50), 64, "rotate-portrait", 16).rotate
    assert not make_plan((50, 100), 64, "rotate-portrait", 16).rotate
    x = np.arange(48 * 64, dtype=np.float32).reshape(64, 48)
    plan = make_plan(x.shape, 64, "rotate-portrait", 16)
    assert plan.apply(x).shape == (48, 64)
    assert np.array_equal(plan.apply(x), np.rot90(x, -1))


def test_reflect_pad_hand_computed():
    x = np.array([[1, 2, 3, 4]], np.float32)  # 1×4 inside a 4×4 square: 1 row + 3 rows of padding
    plan = make_plan(x.shape, 4, "pad-reflect", multiple=1)
    assert plan.content == (1, 0, 1, 4)
    out = plan.apply(x)
    assert np.array_equal(out, np.repeat(x, 4, axis=0))  # the border is the image's own content, mirrored
    plan = make_plan((2, 2), 4, "pad-reflect", 1)  # scaled to fill: no padding
    assert plan.content == (0, 0, 4, 4)
    plan = make_plan((2, 6), 6, "pad-reflect", 1)  # 2×6 in 6×6: 2 rows on top, 2 below
    assert plan.content == (2, 0, 2, 6)
    img = np.array([[1, 1, 2, 2, 3, 3], [4, 4, 5, 5, 6, 6]], np.float32)
    out = plan.apply(img)
    expected_rows = [img[1], img[0], img[0], img[1], img[1], img[0]]  # symmetric reflection
    assert np.array_equal(out, np.stack(expected_rows))


def test_pad_black_fills_zero():
    x = np.ones((10, 40), np.float32)
    out = make_plan(x.shape, 40, "pad-black", 1).apply(x)
    assert out[:15].max() == 0 and out[15:25].min() == 1 and out[25:].max() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown aspect policy"):
        make_plan((10, 10), 64, "zoom", 16)
    with pytest.raises(ValueError, match="multiple of 16"):
        make_plan((10, 10), 60, "stretch", 16)
    with pytest.raises(ValueError):
        make_plan((0, 10), 64, "stretch", 16)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", [(1, 5000), (5000, 1), (1, 20000), (2, 100_000)])
@pytest.mark.parametrize("size", [16, 512, 2048])
def test_extreme_strips_make_no_array_larger_than_photo_or_canvas(policy, shape, size):
    # Issue 9: center-crop scaled a 5000x1 strip by 512/1 into a 512 x 2,560,000 array (16 GB, then a crash).
    plan = make_plan(shape, size, policy, multiple=16)
    bound = max(shape[0] * shape[1], (size + 16) ** 2)
    assert plan.peak_pixels <= bound
    assert plan.scaled[0] * plan.scaled[1] <= (size + 16) ** 2


@pytest.mark.parametrize("policy", POLICIES)
def test_strip_round_trip_in_bounded_memory(policy):
    x = np.random.default_rng(2).random((1, 5000, 2)).astype(np.float32)
    plan = make_plan(x.shape[:2], 512, policy, multiple=16)
    # Checked before anything is allocated, so a regression fails here instead of taking pytest down.
    assert plan.peak_pixels <= (512 + 16) ** 2 and plan.scaled[0] * plan.scaled[1] <= (512 + 16) ** 2
    canvas = plan.apply(x)
    assert canvas.nbytes <= (512 + 16) ** 2 * 2 * 4
    assert plan.invert(canvas).shape == x.shape


def test_center_crop_keeps_the_centred_square():
    x = np.arange(4 * 10, dtype=np.float32).reshape(4, 10)
    plan = make_plan(x.shape, 4, "center-crop", 1)
    assert plan.crop == (0, 3, 4, 4)
    assert np.array_equal(plan.apply(x), x[:, 3:7])
    back = plan.invert(plan.apply(x))
    assert np.array_equal(back[:, 3:7], x[:, 3:7])
    assert np.array_equal(back[:, 0], x[:, 3]) and np.array_equal(back[:, 9], x[:, 6])  # edge-extended
