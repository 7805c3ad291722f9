"""Decoding only the frames a clip needs, scaled down at decode time when that helps: decord for video files,
libjpeg-turbo (simplejpeg) for frame folders (Something-Something V1 and prepared datasets).

Every failure (missing, empty, corrupt, unreadable) becomes a SampleError with the path and a one-line reason,
so no library traceback reaches the user. Frames come back as uint8 ``[N, H, W, 3]`` tensors.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Protocol

import av  # before decord: see e3dnas.data.footage
import decord
import numpy as np
import simplejpeg
import torch
import torch.utils.dlpack
from torchvision.transforms.v2 import functional as TF

from e3dnas.data.errors import SampleError

# decord forwards FFmpeg's own log lines to stderr; our SampleError already names the file and the reason.
decord.logging.set_level(decord.logging.QUIET)

_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")
JPEG_SUFFIXES = (".jpg", ".jpeg")
#: What decord says when FFmpeg's scaler produced a frame of another size than requested.
_SCALER_MISMATCH = "from_size == to_size"


def reason_text(error: BaseException) -> str:
    """The first line of a library error without decord's '[time] file.cc:line:' prefixes."""
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {_DECORD_PREFIX.sub('', lines[0])[:200]}"


def _in_order(
    frames: torch.Tensor, wanted: np.ndarray, indices: np.ndarray, inverse: np.ndarray
) -> torch.Tensor:
    """The decoded unique, sorted ``wanted`` frames rearranged as ``indices`` asks (a no-op in the usual case
    of increasing indices without repeats)."""
    if np.array_equal(wanted, indices):
        return frames
    return frames[torch.from_numpy(inverse.reshape(-1))]


class ClipSource(Protocol):
    """An opened sample: its frame count, then the frames at given indices."""

    num_frames: int

    def read(self, indices: np.ndarray) -> torch.Tensor: ...


def fit_short_side(width: int, height: int, max_short: int | None) -> tuple[int, int]:
    """(width, height) scaled down so the short side is ``max_short``; unchanged when already that small."""
    short = min(width, height)
    if max_short is None or short <= max_short:
        return width, height
    return max(1, round(width * max_short / short)), max(1, round(height * max_short / short))


def _check_file(path: Path) -> os.stat_result:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SampleError("missing", path, "file not found") from None
    except OSError as error:
        raise SampleError("unreadable", path, reason_text(error)) from None
    if stat.st_size == 0:
        raise SampleError("empty", path, "zero-byte file")
    return stat


@functools.lru_cache(maxsize=2**16)
def frame_size(path: str, modified_ns: int) -> tuple[int, int]:
    """(width, height) of a video from its container header (PyAV, ~1 ms), cached per process: from the second
    epoch on a worker no longer probes (the modification time in the key catches a replaced file)."""
    with av.open(path) as container:
        if not container.streams.video:
            raise SampleError("corrupt", path, "no video stream")
        codec = container.streams.video[0].codec_context
        return codec.width, codec.height


class VideoFile:
    """A video decoded by decord. Its native size is probed from the container header (PyAV, ~1 ms) so that
    decord can scale frames down inside FFmpeg's pipeline instead of converting full-size RGB frames."""

    def __init__(self, path: Path, max_short: int | None = None, threads: int = 1) -> None:
        self.path = path
        self.threads = threads
        stat = _check_file(path)
        try:
            native = frame_size(os.fspath(path), stat.st_mtime_ns)
            self.size = fit_short_side(*native, max_short)
            self._reader = self._open(self.size if self.size != native else None)
            self.num_frames = len(self._reader)
        except SampleError:
            raise
        except Exception as error:
            raise SampleError("corrupt", path, reason_text(error)) from None

    def _open(self, size: tuple[int, int] | None) -> decord.VideoReader:
        width, height = size or (-1, -1)
        return decord.VideoReader(os.fspath(self.path), width=width, height=height, num_threads=self.threads)

    def read(self, indices: np.ndarray) -> torch.Tensor:
        wanted, inverse = np.unique(indices, return_inverse=True)
        try:
            frames = self._decode(wanted)
        except Exception as error:
            if _SCALER_MISMATCH not in str(error):
                raise SampleError("corrupt", self.path, reason_text(error)) from None
            frames = self._decode_then_resize(wanted)
        return _in_order(frames, wanted, indices, inverse)

    def _decode(self, wanted: np.ndarray) -> torch.Tensor:
        return torch.utils.dlpack.from_dlpack(self._reader.get_batch(wanted.tolist()).to_dlpack())

    def _decode_then_resize(self, wanted: np.ndarray) -> torch.Tensor:
        """FFmpeg's scaler returns frames of another size than decord allocated at a few small sizes of
        4:3-like sources (48×36, 72×54 from 320×240: "Check failed: from_size == to_size"): decode those at
        the native size and scale down here, rather than count a good video as corrupt."""
        try:
            self._reader = self._open(None)
            frames = self._decode(wanted).permute(0, 3, 1, 2)
        except Exception as error:
            raise SampleError("corrupt", self.path, reason_text(error)) from None
        width, height = self.size
        return TF.resize(frames, [height, width], antialias=True).permute(0, 2, 3, 1).contiguous()


class FrameFolder:
    """A folder of JPEG frames (``00001.jpg`` …), frame i being the i-th file in name order. libjpeg-turbo
    (simplejpeg) decodes each frame straight to RGB into the clip's array, scaled down by ½, ¼ or ⅛ inside
    the decoder when it is larger than needed: 5.7 ms for 13 frames at 229×538 where Pillow's decode, RGB
    conversion and array copy took 14 ms."""

    def __init__(self, path: Path, max_short: int | None = None) -> None:
        self.path = path
        self.max_short = max_short
        try:
            names = sorted(name for name in os.listdir(path) if name.lower().endswith(JPEG_SUFFIXES))
        except FileNotFoundError:
            raise SampleError("missing", path, "frame folder not found") from None
        except OSError as error:
            raise SampleError("unreadable", path, reason_text(error)) from None
        if not names:
            raise SampleError("empty", path, "frame folder holds no JPEG frames")
        self._names = names
        self.num_frames = len(names)

    def read(self, indices: np.ndarray) -> torch.Tensor:
        wanted, inverse = np.unique(indices, return_inverse=True)
        frames, minimum = None, (0, 0)
        for slot, index in enumerate(wanted.tolist()):
            frame = self.path / self._names[index]
            data = self._bytes(frame)
            try:
                if frames is None:  # every frame of a folder has the first one's size
                    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
                    minimum = fit_short_side(width, height, self.max_short)
                    height, width, _, _ = simplejpeg.decode_jpeg_header(data, minimum[1], minimum[0])
                    frames = np.empty((len(wanted), height, width, 3), dtype=np.uint8)
                image = simplejpeg.decode_jpeg(
                    data, "RGB", min_height=minimum[1], min_width=minimum[0], buffer=frames[slot]
                )
            except ValueError as error:
                raise SampleError("corrupt", frame, reason_text(error)) from None
            if image.shape != frames.shape[1:]:
                raise SampleError("corrupt", self.path, f"frame {frame.name} differs in size")
        return _in_order(torch.from_numpy(frames), wanted, indices, inverse)

    @staticmethod
    def _bytes(frame: Path) -> bytes:
        try:
            data = frame.read_bytes()
        except OSError as error:
            raise SampleError("unreadable", frame, reason_text(error)) from None
        if not data:
            raise SampleError("empty", frame, "zero-byte file")
        return data


def open_clip(path: Path, storage: str, max_short: int | None = None, threads: int = 1) -> ClipSource:
    """Open one sample of a layout whose ``storage`` is "video" or "frames"."""
    return VideoFile(path, max_short, threads) if storage == "video" else FrameFolder(path, max_short)
