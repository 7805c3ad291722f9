"""Plug-in registries: a scorer, a search space, a model and a dataset layout are each registered by a
decorator beside their definition (``@register_scorer("stentr")``), as timm's ``@register_model``.

A registry is a read-only mapping from name to builder that :func:`e3dnas.schema.build_plugin` builds from.
It knows where its built-ins live by module path only and imports them when a name is first looked up, in
order, stopping at the first that registers it: looking up ``stentr`` imports :mod:`e3dnas.scores` and
nothing of torch, while ``naswot`` (or listing every scorer) also imports the :mod:`e3dnas.proxies` package,
module by module, so a new proxy is one new module there. Plug-ins of other installed packages register
the same way from a module named in the ``e3dnas.plugins`` entry-point group, loaded after the built-ins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

#: Entry-point group whose modules register plug-ins of other packages when imported.
ENTRY_POINT_GROUP = "e3dnas.plugins"

B = TypeVar("B", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry:
    """A registered builder, with what the listing says of it."""

    name: str
    builder: Callable[..., Any]
    doc: str
    module: str


def first_line(doc: str | None) -> str:
    """The first sentence of a docstring, on one line (what a listing shows of a plug-in)."""
    paragraph = " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())
    return paragraph.split(". ")[0].removesuffix(".") + "." if paragraph else ""


def _import_home(path: str) -> None:
    """Import module ``path`` and, when it is a package, each of its modules (where plug-ins register)."""
    module = importlib.import_module(path)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        importlib.import_module(f"{path}.{info.name}")


_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import every module of the ``e3dnas.plugins`` entry-point group, once per process."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            entry_point.load()


class Registry(Mapping[str, Callable[..., Any]]):
    """The builders of one kind of plug-in by name, filled by :meth:`register` as their modules import.

    ``homes`` are the modules (a package: each of its modules) that register the built-ins, imported on
    demand; ``context`` are the keywords e3dnas passes every builder itself, which are no options."""

    def __init__(self, kind: str, homes: tuple[str, ...], context: tuple[str, ...] = ()):
        self.kind, self.context = kind, context
        self._pending = list(homes)
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, builder: B | None = None, *, doc: str | None = None) -> Any:
        """Register ``builder`` as ``name`` (a decorator without ``builder``); ``doc`` replaces its
        docstring's first line in the listing (for a ``functools.partial`` of another builder)."""

        def add(builder: B) -> B:
            if name in self._entries and self._entries[name].builder is not builder:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._entries[name].module})")
            module = getattr(builder, "func", builder).__module__  # a partial: its function's
            # A class without a docstring of its own (not its base's) is described by its module's.
            own = builder.__dict__.get("__doc__") if isinstance(builder, type) else builder.__doc__
            text = doc or first_line(own) or first_line(sys.modules[module].__doc__)
            self._entries[name] = Entry(name, builder, text, module)
            return builder

        return add if builder is None else add(builder)

    def _load(self, until: str | None = None) -> None:
        """Import the pending homes, then the entry points, stopping once ``until`` is registered."""
        while self._pending and (until is None or until not in self._entries):
            _import_home(self._pending.pop(0))
        if until is None or until not in self._entries:
            _load_entry_points()

    def entries(self) -> list[Entry]:
        """Every registered plug-in of this kind, built-ins first."""
        self._load()
        return list(self._entries.values())

    def defined_in(self, package: str) -> Subset:
        """The builders registered by the modules of ``package`` (imported when the view is first read)."""
        return Subset(self, package)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            self._load(until=name)
        return self._entries[name].builder

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._entries:
            self._load(until=name)
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


class Subset(Mapping[str, Callable[..., Any]]):
    """The part of a registry that one package registers (the closed-form scorers, the proxies), read
    lazily: it imports that package, and only that, when it is first looked into."""

    def __init__(self, registry: Registry, package: str):
        self.registry, self.package = registry, package

    def _builders(self) -> dict[str, Callable[..., Any]]:
        _import_home(self.package)
        inside = [e for e in self.registry._entries.values() if f"{e.module}.".startswith(f"{self.package}.")]
        return {e.name: e.builder for e in inside}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self._builders()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders())

    def __len__(self) -> int:
        return len(self._builders())


SCORERS = Registry("scorer", ("e3dnas.scores", "e3dnas.proxies"))
SPACES = Registry("space", ("e3dnas.space",), context=("frames", "resolution", "max_layers"))
MODELS = Registry("model", ("e3dnas.models",), context=("arch", "num_classes", "frames", "resolution"))
LAYOUTS = Registry("layout", ("e3dnas.data.layouts",), context=("media_dir", "annotation_dir"))

#: Every kind of plug-in, by the config key that picks one.
KINDS: Mapping[str, Registry] = {"scorer": SCORERS, "space": SPACES, "model": MODELS, "layout": LAYOUTS}

register_scorer = SCORERS.register
register_space = SPACES.register
register_model = MODELS.register
register_layout = LAYOUTS.register
