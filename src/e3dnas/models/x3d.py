"""X3D, the hand-designed baseline of the same family (pytorchvideo's ``create_x3d``)."""

from __future__ import annotations

import warnings
from functools import partial

from torch import nn

from e3dnas.registry import register_model
from e3dnas.schema import ConfigValueError

with warnings.catch_warnings():
    # pytorchvideo imports fvcore.nn, which scripts a loss with torch.jit (deprecated) that e3dnas never uses
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    from pytorchvideo.models.x3d import create_x3d

#: Stem and four stages halve the side: a crop under this many pixels leaves no feature map.
SPATIAL_STRIDE = 32
#: pytorchvideo's model-zoo settings per size: (frames, crop, width_factor, depth_factor).
X3D_SIZES: dict[str, tuple[int, int, float, float]] = {
    "xs": (4, 160, 2.0, 2.2),
    "s": (13, 160, 2.0, 2.2),
    "m": (16, 224, 2.0, 2.2),
    "l": (16, 312, 2.0, 5.0),
}


def build_x3d(
    *,
    size: str,
    num_classes: int,
    frames: int | None = None,
    resolution: int | None = None,
    dropout: float = 0.5,
    width_factor: float | None = None,
    depth_factor: float | None = None,
    arch: object = None,
) -> nn.Module:
    """X3D-``size`` emitting logits (no softmax), its head pool sized for ``frames`` × ``resolution``.

    X3D is hand-designed: ``arch`` (part of the registry's builder signature) is ignored.
    """
    if size not in X3D_SIZES:
        raise ConfigValueError(f"unknown X3D size {size!r} (known: {', '.join(X3D_SIZES)})")
    zoo_frames, zoo_crop, zoo_width, zoo_depth = X3D_SIZES[size]
    if resolution is not None and resolution < SPATIAL_STRIDE:
        raise ConfigValueError(
            f"dataset.resolution: X3D strides by {SPATIAL_STRIDE}, so it needs a resolution of at least "
            f"{SPATIAL_STRIDE}, got {resolution}"
        )
    return create_x3d(
        input_clip_length=frames or zoo_frames,
        input_crop_size=resolution or zoo_crop,
        model_num_class=num_classes,
        dropout_rate=dropout,
        width_factor=width_factor or zoo_width,
        depth_factor=depth_factor or zoo_depth,
        head_activation=None,
    )


for _size, (_frames, _crop, *_) in X3D_SIZES.items():
    register_model(
        f"x3d_{_size}",
        partial(build_x3d, size=_size),
        doc=f"X3D-{_size.upper()} (pytorchvideo), the hand-designed baseline; zoo input {_frames}×{_crop}².",
    )
