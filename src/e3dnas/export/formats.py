"""The export formats: how each serialises a network, and how its own runtime loads the file back.

Every format traces the network at one fixed input shape (the checkpoint's clip size), takes a float32
(B, 3, T, H, W) clip named ``clips`` and returns (B, classes) logits named ``logits``.
"""

from __future__ import annotations

import importlib
import io
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from e3dnas.export.errors import ExportError

INPUT, OUTPUT = "clips", "logits"


@dataclass(frozen=True)
class Loaded:
    """An exported file as its runtime loaded it."""

    run: Callable[[Tensor], Tensor]
    ops: list[str]  # the operators of its graph, to check what it computes (e.g. that no BatchNorm is left)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    #: (network, example clip, metadata: name -> text stored in the file) -> file contents
    serialize: Callable[[nn.Module, Tensor, Mapping[str, str]], bytes]
    load: Callable[[bytes], Loaded]  # file contents -> runnable, on the CPU with torch's thread count
    requires: tuple[str, ...] = ()  # Python packages beyond torch (module name = pip name for these)

    def check_requirements(self) -> None:
        """Name the missing package and its pip command before any work, rather than fail halfway."""
        for package in self.requires:
            try:
                importlib.import_module(package)
            except ImportError:
                raise ExportError(f"format={self.name} needs {package}: pip install {package}") from None

    def versions(self) -> dict[str, str]:
        """Versions of the libraries that wrote and run the file: they change its graph and its speed."""
        return {"torch": torch.__version__} | {
            package: importlib.import_module(package).__version__ for package in self.requires
        }


@contextmanager
def _quiet_torchscript() -> Iterator[None]:
    """torch deprecates TorchScript in favour of torch.export; asking for it is a deliberate choice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", FutureWarning)
        yield


def _torchscript_bytes(network: nn.Module, clips: Tensor, metadata: Mapping[str, str]) -> bytes:
    """A trace (the network has no data-dependent control flow); trace's own re-run check is skipped, the
    file's parity is checked by the caller. ``metadata`` goes in as extra files (``_extra_files``)."""
    buffer = io.BytesIO()
    with _quiet_torchscript():
        traced = torch.jit.trace(network, clips, check_trace=False)
        torch.jit.save(traced, buffer, _extra_files=dict(metadata))
    return buffer.getvalue()


def _torchscript_load(data: bytes) -> Loaded:
    with _quiet_torchscript():
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return Loaded(module, [node.kind() for node in module.inlined_graph.nodes()])


def _program_bytes(network: nn.Module, clips: Tensor, metadata: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(network, (clips,)), buffer, extra_files=dict(metadata))
    return buffer.getvalue()


def _program_load(data: bytes) -> Loaded:
    program = torch.export.load(io.BytesIO(data))
    ops = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    return Loaded(program.module(), ops)


def _onnx_bytes(network: nn.Module, clips: Tensor, metadata: Mapping[str, str]) -> bytes:
    """The dynamo exporter (torch.export graph translated by onnxscript), torch's default and the one that
    keeps up with new operators; the weights stay inside the file, ``metadata`` in its ``metadata_props``
    (onnxruntime: ``session.get_modelmeta().custom_metadata_map``)."""
    import onnx

    program = torch.onnx.export(
        network, (clips,), dynamo=True, input_names=[INPUT], output_names=[OUTPUT], verbose=False
    )
    model = program.model_proto
    onnx.helper.set_model_props(model, dict(metadata))
    return model.SerializeToString()


def _onnx_load(data: bytes) -> Loaded:
    import onnx
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def run(clips: Tensor) -> Tensor:
        (logits,) = session.run([OUTPUT], {INPUT: clips.numpy()})
        return torch.from_numpy(logits)

    return Loaded(run, [node.op_type for node in onnx.load_from_string(data).graph.node])


FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (
        ExportFormat("torchscript", ".pt", _torchscript_bytes, _torchscript_load),
        ExportFormat("onnx", ".onnx", _onnx_bytes, _onnx_load, ("onnx", "onnxscript", "onnxruntime")),
        ExportFormat("exported_program", ".pt2", _program_bytes, _program_load),
    )
}


def export_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise ExportError(f"format: unknown format {name!r} (valid: {', '.join(FORMATS)})")
    return FORMATS[name]
