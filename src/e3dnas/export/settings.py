"""``python -m e3dnas.export``'s settings, typed and range-checked (their values and what each does:
conf/export.yaml); registered in Hydra's ConfigStore as ``schema/export``."""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from e3dnas.data.config import optional
from e3dnas.schema import ConfigValueError, check_fields, integer, is_number, setting


@dataclass
class ExportSettings:
    ckpt: str = MISSING
    format: str = MISSING  # a name of e3dnas.export.formats.FORMATS, checked there
    batch_size: int = setting(*integer(1), default=MISSING)
    out_dir: str | None = None
    atol: float = setting("a number >= 0", lambda v: is_number(v) and v >= 0, default=MISSING)
    seed: int = setting(*integer(0), default=MISSING)
    threads: int | None = setting(*optional(*integer(1)), default=None)
    warmup: int = setting(*integer(0), default=MISSING)
    runs: int = setting(*integer(1), default=MISSING)
    print_config: bool = False

    def __post_init__(self) -> None:
        check_fields(self, "", ConfigValueError)


ConfigStore.instance().store(group="schema", name="export", node=ExportSettings)
