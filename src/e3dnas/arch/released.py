"""The released E3D networks, looked up by name: the files of conf/arch/ (``arch=<name>`` in training)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from e3dnas.arch.document import ArchDocument, ArchError, read_arch
from e3dnas.configs import CONF_DIR


@cache
def released_nets() -> dict[str, ArchDocument]:
    """Every released network (``e3d_s`` → its document, published figures in ``meta.published``),
    smallest input first (S, M, L): the one reader of conf/arch/."""
    docs = {path.stem: read_arch(path) for path in (Path(CONF_DIR) / "arch").glob("*.yaml")}
    return dict(
        sorted(docs.items(), key=lambda item: (item[1].arch.frames * item[1].arch.resolution ** 2, item[0]))
    )


def released_arch(name: str) -> ArchDocument:
    """The released network ``name`` (e.g. ``e3d_s``), or an ArchError naming the known ones."""
    nets = released_nets()
    if name not in nets:
        raise ArchError(f"unknown released network {name!r} (known: {', '.join(nets)})")
    return nets[name]


def arch_document(reference: str) -> ArchDocument:
    """The document of an architecture file, or of a released network when ``reference`` is a name (no
    YAML suffix, no such file)."""
    path = Path(reference)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return read_arch(path)
    return released_arch(reference)
