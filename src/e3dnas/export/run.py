"""One export: load the checkpoint, fold BatchNorm, serialise, verify against eager, time, record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from e3dnas.atomic import atomic_write_bytes, atomic_write_text
from e3dnas.export.errors import ExportError
from e3dnas.export.fold import batchnorms, fold_batchnorm
from e3dnas.export.formats import ExportFormat, Loaded, export_format
from e3dnas.export.latency import latency, torch_threads
from e3dnas.export.outputs import RECORD, claim, export_dir, file_sha256
from e3dnas.export.preprocessing import data_config, preprocessing
from e3dnas.export.settings import ExportSettings
from e3dnas.schema import read_node
from e3dnas.train.checkpoint import load_checkpoint
from e3dnas.train.module import ClipClassifier


class ExportJob(NamedTuple):
    """The format (its packages installed) and the settings of an export."""

    format: ExportFormat
    settings: ExportSettings


def export_settings(cfg: DictConfig, overrides: Sequence[str] = ()) -> ExportJob:
    """The export job of a composed config (:mod:`e3dnas.command`), each part checked before the
    checkpoint is even read; an E3DError names the key of a value that cannot work."""
    fmt = export_format(cfg.format)
    fmt.check_requirements()
    return ExportJob(fmt, read_node(ExportSettings, cfg))


def eager_network(module: ClipClassifier) -> nn.Module:
    """The trained network alone, in eval mode and in the plain NCDHW layout: the one every format takes
    (ONNX has no other), so eager and exported are timed on the same clip. Training's ``channels_last_3d``
    is a speed-up of the CPU backward pass, not of inference."""
    network = getattr(module.model, "_orig_mod", module.model)  # the plain module under torch.compile
    return network.eval().to(memory_format=torch.contiguous_format)


def verify(fmt: ExportFormat, loaded: Loaded, clips: Tensor, reference: Tensor, atol: float) -> float:
    """Max |Δlogit| of ``loaded`` against the eager ``reference`` on ``clips``; raises ExportError when a
    BatchNorm is left in the exported graph or the difference exceeds ``atol``."""
    norms = [op for op in loaded.ops if "batchnorm" in op.lower().replace("_", "")]
    if norms:
        raise ExportError(f"format={fmt.name}: {len(norms)} BatchNorm op(s) left in the graph ({norms[0]})")
    with torch.no_grad():
        diff = float((loaded.run(clips) - reference).abs().max())
    if not diff <= atol:  # NaN fails too
        raise ExportError(
            f"format={fmt.name}: max |Δlogit| vs the eager network is {diff:.3g} > atol {atol:g}"
        )
    return diff


def deployment(module: ClipClassifier) -> dict[str, Any]:
    """What a deployment needs beside the file: the input it takes, how evaluate makes that input from a
    video (:func:`preprocessing`) and the name of each output logit, from the checkpoint's record of its
    training data."""
    data = data_config(module.hparams.get("dataset"), module.hparams.frames, module.hparams.resolution)
    return {
        "input": {
            "layout": "NCTHW",  # batch, RGB channels, frames, height, width
            "memory_format": "contiguous",  # channels_last_3d is a training speed-up, not in the file
            "dtype": "float32",
            "channels": "RGB",
            "frames": data.frames,
            "resolution": data.resolution,
            # (pixel / 255 - mean) / std per channel
            "mean": list(data.mean),
            "std": list(data.std),
        },
        "preprocessing": preprocessing(data),
        "classes": list(module.hparams.get("class_names") or []),
    }


def file_metadata(deployed: dict[str, Any]) -> dict[str, str]:
    """The deployment record as the exported file's own metadata (ONNX ``metadata_props``, TorchScript and
    ExportedProgram extra files): each entry as JSON text, so the file alone says how to feed it."""
    return {key: json.dumps(value) for key, value in deployed.items()}


def export(job: ExportJob) -> tuple[Path, dict[str, Any]]:
    """Export the job's checkpoint in its format; returns the file and its record (``export.json``).

    Nothing is written unless the serialised network passes :func:`verify`; the latency is that of the
    file read back from disk, against the eager (unfolded) network on the same clip.
    """
    fmt, settings = job
    module = load_checkpoint(settings.ckpt)
    network = eager_network(module)
    side = module.hparams.resolution
    shape = (settings.batch_size, 3, module.hparams.frames, side, side)
    ckpt = Path(settings.ckpt).resolve()
    identity = {"format": fmt.name, "input_shape": list(shape), "ckpt_sha256": file_sha256(ckpt)}
    folder = export_dir(ckpt, settings.out_dir, fmt.name, shape)
    claim(folder, identity)

    threads = settings.threads or torch.get_num_threads()
    with torch_threads(threads):
        folded = fold_batchnorm(network)
        clips = torch.randn(shape, generator=torch.Generator().manual_seed(settings.seed))
        with torch.no_grad():
            reference = network(clips)
            # eager first, before any runtime of the format has started threads that keep spinning a while
            eager_ms = latency(partial(network, clips), settings.warmup, settings.runs)
        deployed = deployment(module)
        data = fmt.serialize(folded, clips, file_metadata(deployed))
        diff = verify(fmt, fmt.load(data), clips, reference, settings.atol)
        path = atomic_write_bytes(folder / f"model{fmt.suffix}", data)
        with torch.no_grad():
            exported_ms = latency(
                partial(fmt.load(path.read_bytes()).run, clips), settings.warmup, settings.runs
            )

    record = {
        **identity,
        "file": path.name,
        "bytes": len(data),
        "ckpt": str(ckpt),
        "folded_batchnorms": len(batchnorms(network)),
        "parity_max_abs_diff": diff,
        "atol": settings.atol,
        "latency_ms": exported_ms,
        "eager_latency_ms": eager_ms,
        "threads": threads,
        "warmup": settings.warmup,
        "runs": settings.runs,
        "versions": fmt.versions(),
        **deployed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(folder / RECORD, json.dumps(record, indent=2))
    return path, record
