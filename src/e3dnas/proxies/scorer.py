"""The zero-cost proxies as search scorers: one built network per candidate, scored one by one.

A search scorer maps an :class:`ArchBatch` to one score per architecture. A proxy scorer builds each
candidate's E3D network at the batch's input size (the budget's frames × resolution) with weights seeded by
``seed`` alone, so that an architecture scores the same whenever and wherever it is met, and calls the
proxy on a batch fixed once per scorer. Scores are cached by genes: the search scores a sampled batch and
then its admitted part. Each proxy's module registers its scorer beside the proxy
(``@register_scorer``, a factory returning a :class:`ProxyScorer`); the registry imports those modules, and
so torch, only when a proxy scorer is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from e3dnas.arch import Arch, ArchBatch
from e3dnas.errors import E3DError
from e3dnas.registry import SCORERS, register_scorer
from e3dnas.schema import check_fields, integer, is_number, one_of, setting

if TYPE_CHECKING:
    import torch

#: Classes of the stand-in labels (without ``data_root``): the classifier's width, and the labels are drawn
#: uniformly from them.
STAND_IN_CLASSES = 10

DEVICES = ("cpu", "cuda")

#: What a proxy scorer measures on one candidate: ``measure(scorer, model, arch) -> float``.
Measure = Callable[..., float]


class ProxyError(E3DError, ValueError):
    """A proxy scorer's option is out of range or its data cannot be read; the message names the option."""


@dataclass(frozen=True)
class ProxySettings:
    """The options a proxy scorer may take (each scorer takes the subset its proxy uses)."""

    batch_size: int = setting(*integer(1), default=8)
    seed: int = setting(*integer(0), default=0)
    device: str = setting(*one_of(DEVICES), default="cpu")
    data_root: str | None = setting(
        "null or a folder of <class>/<video> files",
        lambda v: v is None or (isinstance(v, str) and bool(v)),
        default=None,
    )
    alpha: float = setting("a number in (0, 1]", lambda v: is_number(v) and 0 < v <= 1, default=0.01)


class ProxyScorer:
    """Scores architectures by building each one and calling ``measure(scorer, model, arch)``."""

    def __init__(self, name: str, measure: Callable[..., float], settings: ProxySettings):
        self.name, self.measure, self.settings = name, measure, settings
        check_fields(settings, "scorer", ProxyError)
        import torch

        if settings.device == "cuda" and not torch.cuda.is_available():
            raise ProxyError(f"scorer.device=cuda ({name}): torch sees no CUDA device")
        self.device = torch.device(settings.device)
        self.num_classes = STAND_IN_CLASSES
        self._inputs: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self._cache: dict[tuple[int, ...], float] = {}
        #: Called after each candidate it scores (not after a cached one): a search's progress bar ticks
        #: per candidate rather than once per batch of children, which takes a proxy a minute or more.
        self.on_scored: Callable[[], None] | None = None
        if settings.data_root is not None:
            from e3dnas.proxies.clips import labelled_videos

            try:
                classes, _ = labelled_videos(Path(settings.data_root))
            except (OSError, ValueError) as err:
                raise ProxyError(f"scorer.data_root ({name}): {err}") from None
            self.num_classes = len(classes)

    def __call__(self, batch: ArchBatch) -> np.ndarray:
        scores = np.empty(len(batch), dtype=np.float64)
        for i, genes in enumerate(map(tuple, batch.genes.tolist())):
            if genes not in self._cache:
                self._cache[genes] = self.score(batch.arch(i))
                if self.on_scored is not None:
                    self.on_scored()
            scores[i] = self._cache[genes]
        return scores

    def score(self, arch: Arch) -> float:
        """The proxy on ``arch``'s network, built with torch's RNG seeded by ``seed`` (and restored after)."""
        import torch

        from e3dnas.models.e3d import build_e3d

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            # Residual branches start live (BatchNorm γ = 1): the proxies' papers score the standard init;
            # with the training default (zero γ) every residual branch would be invisible to them.
            model = build_e3d(arch=arch, num_classes=self.num_classes, zero_init_residual=False)
            return self.measure(self, model.to(self.device), arch)

    def labelled_batch(self, arch: Arch) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch at ``arch``'s input size, made once: real clips from ``data_root`` when given, else
        Gaussian clips N(0, 1) (in the normalised units the network sees) with uniform random labels."""
        import torch

        size = (arch.frames, arch.resolution)
        if size not in self._inputs:
            s = self.settings
            if s.data_root is not None:
                from e3dnas.proxies.clips import load_batch

                try:
                    clips, labels, _ = load_batch(Path(s.data_root), s.batch_size, *size, s.seed)
                except ValueError as err:
                    raise ProxyError(f"scorer.data_root ({self.name}): {err}") from None
            else:
                generator = torch.Generator().manual_seed(s.seed)
                clips = torch.randn(s.batch_size, 3, *size[:1], size[1], size[1], generator=generator)
                labels = torch.randint(0, self.num_classes, (s.batch_size,), generator=generator)
            self._inputs[size] = (clips.to(self.device), labels.to(self.device))
        return self._inputs[size]

    def noise_pair(self, arch: Arch) -> tuple[torch.Tensor, torch.Tensor]:
        """Two seeded Gaussian batches at ``arch``'s input size: Zen's input x and perturbation ε."""
        import torch

        generator = torch.Generator().manual_seed(self.settings.seed)
        shape = (self.settings.batch_size, 3, arch.frames, arch.resolution, arch.resolution)
        return tuple(torch.randn(shape, generator=generator).to(self.device) for _ in range(2))


def labelled_batch_proxy(name: str, doc: str) -> Callable[[Measure], Measure]:
    """Register ``measure`` (decorated) as the scorer ``name`` of a proxy on a labelled batch (NASWOT, SNIP,
    grad_norm): its options are the batch's size, the seed, the device and a folder of real clips."""

    def register(measure: Measure) -> Measure:
        def build(
            batch_size: int = 8, seed: int = 0, device: str = "cpu", data_root: str | None = None
        ) -> ProxyScorer:
            return ProxyScorer(name, measure, ProxySettings(batch_size, seed, device, data_root))

        register_scorer(name, build, doc=doc)
        return measure

    return register


#: The proxy scorers by name, each registered by its own module of this package (reading this loads torch).
PROXY_SCORERS = SCORERS.defined_in("e3dnas.proxies")
