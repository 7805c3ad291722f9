"""``python -m e3dnas.profile``'s settings, typed and checked (their values and what each does:
conf/profile.yaml). The device keys at the top level are :class:`DeviceSettings`', the ``timing`` node
:class:`TimingSettings`; the rest is :class:`ProfileConfig`. Registered in Hydra's ConfigStore as
``schema/profile`` and ``schema/profile_device``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from e3dnas.budget import Budget
from e3dnas.latency.timing import DeviceSettings, TimingSettings
from e3dnas.profile.profiler import ProfileSettings
from e3dnas.schema import read_keys
from e3dnas.search.config import budget_and_space
from e3dnas.space import SearchSpace


@dataclass
class CalibrationConfig:
    networks: int = MISSING
    seed: int = MISSING


@dataclass
class ProfileConfig:
    grid_ratio: float = MISSING
    timing: TimingSettings = MISSING
    calibration: CalibrationConfig = MISSING
    progress: bool = True
    print_config: bool = False


class ProfileInputs(NamedTuple):
    """Everything a profile needs from its config, each part checked."""

    budget: Budget
    space: SearchSpace
    device: DeviceSettings
    timing: TimingSettings
    settings: ProfileSettings
    progress: bool


def profile_inputs(cfg: DictConfig, overrides: Sequence[str] = ()) -> ProfileInputs:
    """The profile job of a composed config (:mod:`e3dnas.command`), read as its schemas; an E3DError
    names the key of a value that cannot work."""
    budget, space = budget_and_space(cfg, overrides, "profile")
    config = read_keys(ProfileConfig, cfg)
    device = read_keys(DeviceSettings, cfg)
    calibration = ProfileSettings(config.grid_ratio, config.calibration.networks, config.calibration.seed)
    return ProfileInputs(budget, space, device, config.timing, calibration, config.progress)


ConfigStore.instance().store(group="schema", name="profile", node=ProfileConfig)
ConfigStore.instance().store(group="schema", name="profile_device", node=DeviceSettings)
