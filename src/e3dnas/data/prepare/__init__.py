"""Rewriting a video dataset into its training-fast form: every video becomes a folder of JPEG frames at the
largest short side training reads (docs/data.md, "Preparing a dataset").

Decoding a compressed video costs the frames between key frames too (all 48 frames of an SSv2 clip for 13
sampled ones, up to 250 for a Kinetics clip); a prepared clip costs exactly the frames sampled, each a small
JPEG decoded by libjpeg-turbo. The folder of a video keeps the video's file name (``videos/123.webm/`` holding
``00001.jpg`` …) and the annotation files are copied unchanged, so the same layout parser lists the same
records with the same labels; ``prepared.json`` at the root tells the loader to read frames.

Each video is written to a temporary folder, verified (every JPEG decodes to the decoded frame's size) and
renamed into place, so an interrupted run resumes where it stopped and never leaves a half-written video.
Videos that fail to decode are skipped and listed in ``broken.csv``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg
import torch
from tqdm.auto import tqdm

from e3dnas.atomic import atomic_write_bytes, atomic_write_csv, atomic_write_text
from e3dnas.data.annotations import Layout, SplitName
from e3dnas.data.decode import VideoFile, reason_text
from e3dnas.data.errors import DataError, SampleError, where

logger = logging.getLogger("e3dnas.data.prepare")

MANIFEST = "prepared.json"
BROKEN = "broken.csv"
FORMAT = 1
#: Frames decoded, encoded and verified at a time: bounds a worker's memory on long videos.
CHUNK = 32
ANNOTATION_SUFFIXES = (".json", ".csv", ".txt")


@dataclass(frozen=True)
class PrepareSettings:
    """What makes two prepared copies of a dataset differ; a folder holds one setting only."""

    layout: str
    source: str
    short_side: int
    quality: int
    #: JPEG chroma subsampling. 4:2:0 keeps what yuv420p videos hold and decodes 35 % faster than 4:4:4.
    subsampling: str = "420"
    media_dir: str = "."
    annotation_dir: str = "."

    def __post_init__(self) -> None:
        if not 16 <= self.short_side <= 4096:
            raise DataError(f"prepare: short_side must be in 16..4096, got {self.short_side}")
        if not 1 <= self.quality <= 100:
            raise DataError(f"prepare: quality must be in 1..100, got {self.quality}")
        if self.subsampling not in ("420", "422", "444"):
            raise DataError(f"prepare: subsampling must be 420, 422 or 444, got {self.subsampling!r}")


@dataclass
class Outcome:
    """What happened to one video: frames and bytes written, or why it was skipped."""

    path: str
    frames: int = 0
    bytes: int = 0
    error: SampleError | None = None
    resumed: bool = False


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a prepared dataset, or None when ``root`` holds an original one."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{where(path)}: unreadable manifest of a prepared dataset: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "settings" not in manifest:
        raise DataError(f"{where(path)}: not a format-{FORMAT} manifest of a prepared dataset")
    return manifest


def frame_name(number: int) -> str:
    return f"{number:05d}.jpg"


def prepare_video(source: Path, target: Path, settings: PrepareSettings) -> Outcome:
    """Decode ``source`` at the settings' short side (decord, as training would) and write
    ``target/00001.jpg`` …; a ``target`` already in place is kept (a resumed run)."""
    if target.is_dir():
        return Outcome(str(source), frames=len(os.listdir(target)), resumed=True)
    staging = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        video = VideoFile(source, settings.short_side)
        staging.mkdir(parents=True)
        written = 0
        for start in range(0, video.num_frames, CHUNK):
            frames = video.read(np.arange(start, min(start + CHUNK, video.num_frames))).numpy()
            for offset, frame in enumerate(frames):
                path = staging / frame_name(start + offset + 1)
                path.write_bytes(simplejpeg.encode_jpeg(frame, settings.quality, "RGB", settings.subsampling))
                _verify(path, frame.shape)
                written += path.stat().st_size
        os.replace(staging, target)
    except SampleError as error:
        shutil.rmtree(staging, ignore_errors=True)
        return Outcome(str(source), error=error)
    except Exception as error:
        shutil.rmtree(staging, ignore_errors=True)
        return Outcome(str(source), error=SampleError("corrupt", source, reason_text(error)))
    return Outcome(str(source), frames=video.num_frames, bytes=written)


def _verify(path: Path, shape: tuple[int, ...]) -> None:
    """The frame just written decodes back to the decoded frame's size (a full disk or a broken encoder shows
    here, not in the middle of a training run)."""
    try:
        decoded = simplejpeg.decode_jpeg(path.read_bytes(), "RGB")
    except ValueError as error:
        raise SampleError("corrupt", path, f"the written frame does not decode: {error}") from None
    if decoded.shape != shape:
        raise SampleError("corrupt", path, f"the written frame decodes to {decoded.shape}, not {shape}")


def _work(job: tuple[str, str], settings: PrepareSettings) -> Outcome:
    torch.set_num_threads(1)
    return prepare_video(Path(job[0]), Path(job[1]), settings)


def prepare(
    layout: Layout,
    settings: PrepareSettings,
    out: Path,
    splits: Sequence[SplitName] = ("train", "val"),
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the prepared copy of ``layout``'s ``splits`` under ``out``; returns the manifest written."""
    if layout.storage != "video":
        raise DataError(f"prepare: the {settings.layout} layout already stores JPEG frames; nothing to do")
    _claim(out, settings)
    media_in, media_out = Path(layout.media_dir), out / settings.media_dir
    jobs: list[tuple[str, str]] = []
    listed, skipped_records = 0, 0
    for name in splits:
        split = layout.split(name)
        listed += split.listed
        skipped_records += len(split.skipped)
        for error in split.skipped:
            logger.warning("skipped %s: %s: %s", error.path, error.reason, error.detail)
        for record in split.records:
            jobs.append((str(record.path), str(media_out / record.path.relative_to(media_in))))
    jobs = sorted(set(jobs))  # a video listed twice (several splits) is written once
    outcomes = _run(jobs, partial(_work, settings=settings), workers, progress)
    broken = [o for o in outcomes if o.error is not None]
    for outcome in broken:
        logger.warning("skipped %s: %s: %s", outcome.error.path, outcome.error.reason, outcome.error.detail)
    _copy_annotations(Path(layout.annotation_dir), out / settings.annotation_dir)
    atomic_write_csv(
        out / BROKEN,
        ("path", "reason", "detail"),
        [(o.error.path, o.error.reason, o.error.detail) for o in broken],
    )
    manifest = {
        "format": FORMAT,
        "complete": True,
        "settings": asdict(settings),
        "splits": list(splits),
        "records_listed": listed,
        "records_skipped": skipped_records,
        "videos": len(jobs) - len(broken),
        "broken": len(broken),
        "frames": sum(o.frames for o in outcomes),
        "resumed": sum(o.resumed for o in outcomes),
        "bytes_written_now": sum(o.bytes for o in outcomes),
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def summary(manifest: dict[str, Any]) -> str:
    """What a run of :func:`prepare` did, accounting for every listed record: prepared now, already done
    (a rerun), broken, or skipped when the split was read (missing from disk or unusable, logged)."""
    new = manifest["videos"] - manifest["resumed"]
    return (
        f"{manifest['records_listed']} records listed: {new} videos prepared now, {manifest['resumed']} "
        f"already done, {manifest['broken']} broken (listed in {BROKEN}), {manifest['records_skipped']} "
        f"skipped (missing or unusable, logged); {manifest['frames']} frames"
    )


def _claim(out: Path, settings: PrepareSettings) -> None:
    """Mark ``out`` as a prepared copy with ``settings`` (resuming one with the same settings); refuse a
    folder prepared with other settings or holding something else."""
    existing = read_manifest(out) if out.is_dir() else None
    if existing is not None and existing["settings"] != asdict(settings):
        differ = [k for k, v in asdict(settings).items() if existing["settings"].get(k) != v]
        raise DataError(
            f"{where(out / MANIFEST)}: prepared with other settings ("
            + ", ".join(
                f"{k}: {existing['settings'].get(k)!r} there, {asdict(settings)[k]!r} now" for k in differ
            )
            + "); choose another out"
        )
    if existing is None and out.is_dir() and any(out.iterdir()):
        raise DataError(f"{where(out)}: exists and is not a prepared dataset; choose an empty or new folder")
    started = {"format": FORMAT, "complete": False, "settings": asdict(settings)}
    if existing is None or not existing.get("complete"):
        atomic_write_text(out / MANIFEST, json.dumps(started, indent=2) + "\n")


def _run(
    jobs: list[tuple[str, str]], work: Callable[[tuple[str, str]], Outcome], workers: int, progress: bool
) -> list[Outcome]:
    """Every job's outcome, in parallel over ``workers`` processes (spawned: decord and torch threads do
    not survive a fork cleanly)."""
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    results = pool.imap_unordered(work, jobs, chunksize=4) if pool else map(work, jobs)
    try:
        return list(tqdm(results, total=len(jobs), unit="video", desc="prepare", disable=not progress))
    finally:
        if pool is not None:
            pool.terminate()


def _copy_annotations(source: Path, target: Path) -> None:
    """The label and split files, byte for byte: the prepared copy lists the same records and labels."""
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix.lower() in ANNOTATION_SUFFIXES:
            atomic_write_bytes(target / path.name, path.read_bytes())
