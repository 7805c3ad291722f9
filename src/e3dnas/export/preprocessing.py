"""How evaluate turns a video into the clips it feeds the network, written down for a deployment.

``python -m e3dnas.evaluate`` decodes, samples, crops, resizes and normalises in several places (the
decoder, the temporal sampler, the test views, the batch transform); an export records the result of all
of them for the checkpoint's data config, exactly enough to reproduce evaluate's logits from the raw video
(docs/export.md has the code that does it). The same record goes into export.json and into the exported
file's own metadata.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from e3dnas.data.config import DatasetConfig


def data_config(recorded: Mapping[str, Any] | None, frames: int, resolution: int) -> DatasetConfig:
    """The checkpoint's data config (its fields this version knows; defaults for the ones it lacks) at the
    clip size the network was trained at."""
    known = {f.name for f in dataclasses.fields(DatasetConfig)}
    fields = {key: value for key, value in (recorded or {}).items() if key in known}
    return DatasetConfig(**fields | {"frames": frames, "resolution": resolution})


def preprocessing(data: DatasetConfig) -> dict[str, Any]:
    """Evaluate's test protocol as numbers a few lines of numpy can follow, in the order they apply."""
    protocol = data.test_protocol(multiview=True)
    crops = int(protocol["crops"])
    return {
        # 1. decode: frames scaled down (never up) so that the short side is at most this, each side
        #    rounded (decord's width/height, FFmpeg's scaler), as evaluate's decoder does
        "decode_short_side": math.ceil(data.test_short_side),
        # 2. sample `frames` indices per clip from a video of n frames, `clips` clips:
        #    segment: clip k takes floor((i + (k + 1/2) / clips) · n / frames), i < frames
        #    dense: clip k takes start_k + stride · i, start_k = floor(max(n − span, 0) · (k + 1/2) / clips
        #    + 1/2), span = (frames − 1) · stride + 1; either way capped at n − 1
        "sampling": data.sampling,
        "frames": data.frames,
        "stride": data.stride,
        "clips": int(protocol["clips"]),
        # 3. views: a square box of side round(crop · short / short_side) pixels (short: the decoded
        #    short side), its corner at round((long − side) · p) along the long side for each p of
        #    `positions` and centred across it; resized to crop × crop (bilinear, antialiased)
        "short_side": float(protocol["short_side"]),
        "crop": int(protocol["crop"]),
        "positions": [0.5] if crops == 1 else [0.0, 0.5, 1.0],
        "resize": "bilinear, antialiased (torchvision resize of uint8 frames)",
        # 4. RGB, (pixel / 255 − mean) / std per channel, NCTHW float32
        "mean": list(data.mean),
        "std": list(data.std),
        # 5. the video's class probabilities: the mean of the softmax over its clips × positions views
        "aggregate": "mean softmax over views",
    }
