"""Batched spatial views: random scale/crop boxes stay inside each clip, test crops are exact and
deterministic, flips are label-safe, and rendering a padded batch (the GPU path) equals rendering the clips
themselves."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from e3dnas.data.collate import pad_stack
from e3dnas.data.footage import footage_frames
from e3dnas.data.transforms import KINETICS_MEAN, KINETICS_STD, ClipTransform, mirror_labels, render

SOMETHING = [
    "Pushing something from left to right",
    "Pushing something from right to left",
    "Turning the camera left while filming something",
    "Turning the camera right while filming something",
    "Holding something",
    "Moving something left",  # has no right-hand partner: never flipped
]


def real_clips(sides=(40, 48, 64), frames=4) -> list[torch.Tensor]:
    """Clips ``[1, T, h, w, 3]`` of the real footage at different sizes and aspect ratios."""
    names = ["bikes", "carphone_pristine", "bigbuckbunny"]
    pairs = zip(names, sides, strict=True)
    return [torch.from_numpy(footage_frames(name, side)[:frames].copy())[None] for name, side in pairs]


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """``[T, h, w, 3]`` uint8 → ``[3, T, h, w]`` normalised, the reference for exact crops."""
    mean, std = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1), torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    return (pixels.permute(3, 0, 1, 2).float() / 255 - mean) / std


def test_mirror_labels_swap_left_right_pairs_only():
    assert mirror_labels(SOMETHING, "label_pairs").tolist() == [1, 0, 3, 2, 4, -1]
    assert mirror_labels(SOMETHING, "plain").tolist() == list(range(6))
    assert mirror_labels(SOMETHING, "none") is None
    with pytest.raises(ValueError, match="flip mode"):
        mirror_labels(SOMETHING, "random")


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(24, 400), st.integers(24, 400)), min_size=1, max_size=6),
    low=st.integers(16, 40),
    extra=st.integers(0, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_training_views_stay_inside_each_clip_and_follow_the_scale(sizes, low, extra, seed):
    transform = ClipTransform(resolution=16, scale=(low, low + extra), train=True, mirror=torch.arange(6))
    sizes_t = torch.tensor(sizes)
    labels = torch.arange(len(sizes)) % 6
    views, _ = transform.plan(sizes_t, labels, generator=torch.Generator().manual_seed(seed))
    x0, y0, width, height, _ = views.unbind(1)
    assert torch.equal(width, height)
    assert (x0 >= 0).all() and (y0 >= 0).all()
    assert (x0 + width <= sizes_t[:, 1]).all() and (y0 + height <= sizes_t[:, 0]).all()
    short = sizes_t.min(1).values.double()
    assert (width >= (16 * short / (low + extra)).round() - 1e-9).all()
    assert (width <= (16 * short / low).round() + 1e-9).all()
    again, _ = transform.plan(sizes_t, labels, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(views, again)


def test_training_flips_only_where_labels_allow_and_swaps_pairs():
    transform = ClipTransform(32, (32, 40), train=True, mirror=mirror_labels(SOMETHING, "label_pairs"))
    labels = torch.arange(6).repeat(50)
    views, flipped = transform.plan(
        torch.full((300, 2), 64), labels, generator=torch.Generator().manual_seed(0)
    )
    flip = views[:, 4].bool()
    assert 0.3 < flip[labels < 5].float().mean() < 0.7
    assert not flip[labels == 5].any()
    expected = torch.where(flip, torch.tensor([1, 0, 3, 2, 4, 5])[labels], labels)
    assert torch.equal(flipped, expected)
    no_flip = ClipTransform(32, (32, 40), train=True)
    assert not no_flip.plan(torch.full((300, 2), 64), labels)[0][:, 4].any()


def test_test_views_are_exact_crops_along_the_long_side():
    clips = real_clips()  # 40×94 (wide), 48×58, 64×114 frames
    transform = ClipTransform(32, (40, 40), train=False, crops=3, multiview=True)
    sizes = torch.tensor([list(c.shape[2:4]) for c in clips])
    views, _ = transform.plan(sizes, torch.zeros(3, dtype=torch.long), clips=2)
    assert views.shape == (3, 6, 5) and torch.equal(views[:, :3], views[:, 3:])
    x0, y0, side = views[0, :3, 0], views[0, :3, 1], views[0, :3, 2]
    assert side.tolist() == [32] * 3 and y0.tolist() == [4] * 3  # short side 40 = test scale: no resampling
    assert x0.tolist() == [0, 31, 62]  # start, centre, end of the 94 px long side
    out = render([torch.cat([c, c]) for c in clips], views, 32)
    assert out.shape == (3, 6, 3, 4, 32, 32)
    for i, crop_x in enumerate(x0.tolist()):
        reference = normalise(clips[0][0, :, 4 : 4 + 32, crop_x : crop_x + 32])
        torch.testing.assert_close(out[0, i], reference, atol=1e-5, rtol=0)


def test_single_view_output_and_flip_mirrors_the_pixels():
    clip = real_clips()[1]
    views = torch.tensor([[5, 3, 32, 32, 0], [5, 3, 32, 32, 1]])
    out = render([clip, clip], views, 32)
    assert out.shape == (2, 3, 4, 32, 32) and out.dtype == torch.float32
    torch.testing.assert_close(out[1], out[0].flip(-1))
    torch.testing.assert_close(out[0], normalise(clip[0, :, 3:35, 5:37]), atol=1e-5, rtol=0)


def test_rendering_a_padded_batch_equals_rendering_the_clips():
    clips = real_clips()
    transform = ClipTransform(24, (28, 36), train=True, mirror=torch.arange(3))
    sizes = torch.tensor([list(c.shape[2:4]) for c in clips])
    views, _ = transform.plan(sizes, torch.arange(3), generator=torch.Generator().manual_seed(1))
    padded = pad_stack(clips)
    assert padded.shape == (3, 1, 4, 64, 114, 3)
    torch.testing.assert_close(render(padded, views, 24), render(clips, views, 24), atol=0, rtol=0)


def test_scales_below_the_resolution_are_refused():
    with pytest.raises(ValueError, match="≥ resolution"):
        ClipTransform(224, (200, 320), train=True)
    with pytest.raises(ValueError, match="crops"):
        ClipTransform(224, (256, 256), train=False, crops=2)
