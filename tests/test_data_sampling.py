"""Temporal sampling (docs/data.md): segment sampling covers the whole video, dense sampling keeps its stride,
and test-time views are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from e3dnas.data.sampling import DenseSampler, SegmentSampler, make_sampler

lengths = st.integers(min_value=1, max_value=400)
frame_counts = st.integers(min_value=1, max_value=32)


@settings(max_examples=200, deadline=None)
@given(num_frames=lengths, frames=frame_counts, seed=st.integers(0, 2**31 - 1))
def test_segment_training_takes_one_frame_inside_each_segment(num_frames, frames, seed):
    indices = SegmentSampler(frames).train(num_frames, torch.Generator().manual_seed(seed))
    assert indices.shape == (1, frames) and indices.dtype == np.int64
    i = np.arange(frames)
    low = np.floor(i * num_frames / frames)
    high = np.minimum(np.ceil((i + 1) * num_frames / frames), num_frames)
    assert np.all((low <= indices[0]) & (indices[0] < high))
    assert np.all(np.diff(indices[0]) >= 0)


@pytest.mark.parametrize(("num_frames", "frames"), [(48, 8), (37, 16), (120, 16)])
def test_segment_training_reaches_every_frame_of_the_video(num_frames, frames):
    generator = torch.Generator().manual_seed(0)
    seen = np.concatenate([SegmentSampler(frames).train(num_frames, generator)[0] for _ in range(500)])
    assert set(seen.tolist()) == set(range(num_frames))


@settings(max_examples=200, deadline=None)
@given(num_frames=lengths, frames=frame_counts, clips=st.integers(1, 5))
def test_segment_test_views_are_deterministic_and_centred(num_frames, frames, clips):
    sampler = SegmentSampler(frames)
    views = sampler.test(num_frames, clips)
    assert views.shape == (clips, frames)
    np.testing.assert_array_equal(views, sampler.test(num_frames, clips))
    assert views.min() >= 0 and views.max() < num_frames
    centre = np.floor((np.arange(frames) + 0.5) * num_frames / frames).astype(np.int64)
    np.testing.assert_array_equal(sampler.test(num_frames, 1)[0], np.minimum(centre, num_frames - 1))


def test_segment_sampling_of_a_short_video_repeats_frames():
    np.testing.assert_array_equal(SegmentSampler(8).test(4, 1)[0], [0, 0, 1, 1, 2, 2, 3, 3])


@settings(max_examples=200, deadline=None)
@given(num_frames=lengths, frames=frame_counts, stride=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_dense_training_clip_keeps_its_stride_inside_the_video(num_frames, frames, stride, seed):
    sampler = DenseSampler(frames, stride)
    indices = sampler.train(num_frames, torch.Generator().manual_seed(seed))[0]
    assert indices.min() >= 0 and indices.max() < num_frames
    if num_frames >= sampler.span:
        np.testing.assert_array_equal(np.diff(indices), stride)
    else:  # a short video repeats its last frame
        assert indices[0] == 0 and indices[-1] == num_frames - 1


def test_dense_training_start_is_uniform_over_the_video():
    generator = torch.Generator().manual_seed(0)
    starts = {int(DenseSampler(4, 5).train(40, generator)[0, 0]) for _ in range(400)}
    assert starts == set(range(40 - 16 + 1))


@settings(max_examples=100, deadline=None)
@given(num_frames=lengths, clips=st.integers(1, 10))
def test_dense_test_clips_are_evenly_spaced_and_deterministic(num_frames, clips):
    sampler = DenseSampler(13, 6)
    views = sampler.test(num_frames, clips)
    np.testing.assert_array_equal(views, sampler.test(num_frames, clips))
    starts = views[:, 0]
    assert np.all(np.diff(starts) >= 0)
    if num_frames >= sampler.span and clips > 1:
        gaps = np.diff(starts)
        assert gaps.max() - gaps.min() <= 1
        room = num_frames - sampler.span
        assert abs(starts[0] - (room - starts[-1])) <= 1  # centred: same margin at both ends


def test_make_sampler_validates_its_arguments():
    assert make_sampler("dense", 16, 5) == DenseSampler(16, 5)
    with pytest.raises(ValueError, match="unknown sampling"):
        make_sampler("uniform", 16, 1)
    with pytest.raises(ValueError, match="≥ 1"):
        make_sampler("segment", 0, 1)
