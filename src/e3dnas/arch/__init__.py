"""Architecture value and its YAML form (the search → training contract)."""

from e3dnas.arch.document import (
    FORMAT_VERSION,
    ArchDocument,
    ArchError,
    arch_from_dict,
    arch_to_dict,
    dump_arch,
    load_arch,
    read_arch,
    save_arch,
)
from e3dnas.arch.value import ACTIVATIONS, SIDE_ROUNDING, Arch, ArchBatch, Skeleton, Stage, Stem

__all__ = [
    "ACTIVATIONS",
    "FORMAT_VERSION",
    "SIDE_ROUNDING",
    "Arch",
    "ArchBatch",
    "ArchDocument",
    "ArchError",
    "Skeleton",
    "Stage",
    "Stem",
    "arch_from_dict",
    "arch_to_dict",
    "dump_arch",
    "load_arch",
    "read_arch",
    "save_arch",
]
