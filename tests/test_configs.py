"""Every option of every config group, every experiment and every preset composes and reads as its command's
schema (as lightning-hydra-template's tests/test_configs.py does): a conf file that stopped matching its
schema fails here, not at the start of someone's run. Only that each composes and passes the command's
checks is asserted, not the values the files choose."""

from collections.abc import Callable

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from e3dnas.configs import CONF_DIR
from e3dnas.data.prepare.config import prepare_inputs
from e3dnas.evaluate.settings import eval_settings
from e3dnas.export.run import export_settings
from e3dnas.hydra_compat import group_options
from e3dnas.profile.config import profile_inputs
from e3dnas.search.config import search_problem
from e3dnas.train.job import read_train

#: config name → (its command's check, the groups it offers, what a command line must give besides)
COMMANDS: dict[str, tuple[Callable[[DictConfig], object], tuple[str, ...], tuple[str, ...]]] = {
    "search": (search_problem, ("+budget", "scorer", "space"), ("+budget=demo",)),
    "train": (
        read_train,
        ("arch", "dataset", "model", "optim", "trainer", "logger", "callbacks"),
        ("dataset.root=/data", "arch=e3d_s"),
    ),
    "eval": (eval_settings, ("dataset", "trainer", "logger"), ("ckpt=x.ckpt", "dataset.root=/data")),
    "export": (export_settings, (), ("ckpt=x.ckpt",)),
    "profile": (profile_inputs, ("+budget", "space"), ("+budget=demo",)),
    "prepare": (prepare_inputs, ("dataset",), ("dataset=demo", "dataset.root=/data", "out=x")),
}
#: budget files that are whole search presets (they pick a scorer and search.* too): a profile has neither,
#: so ``e3dnas.profile +budget=<one>`` is refused (in one line); one profiles the plain budget instead
SEARCH_PRESETS = ("e3d_s_authors", "e3d_m_authors", "e3d_l_authors")
#: groups a training line adds (+group=option): the recipes and what they are made of
TRAINING_ADDITIONS = ("experiment", "preset/size", "preset/recipe", "preset/finetune")
#: what a fine-tuning recipe needs besides (its check refuses it without the checkpoint to start from)
FINE_TUNING = ("train.init_from=k400.ckpt",)


def cases() -> list[tuple[str, list[str]]]:
    """(config name, overrides): each command bare, then once per option of each group it offers."""
    found = []
    for name, (_, groups, given) in COMMANDS.items():
        found.append((name, list(given)))
        for group in groups:
            for option in group_options(group.lstrip("+"), []):
                if name == "profile" and option in SEARCH_PRESETS:
                    continue
                overrides = [o for o in given if not o.startswith(f"{group}=")]
                found.append((name, [*overrides, f"{group}={option}"]))
    for group in TRAINING_ADDITIONS:
        for option in group_options(group, []):
            tuned = FINE_TUNING if "finetune" in group or option.endswith("_from_k400") else ()
            found.append(("train", [*COMMANDS["train"][2], *tuned, f"+{group}={option}"]))
    return found


CASES = cases()


def test_a_search_preset_is_no_profile_budget():
    """The exception to "every option": when profile takes these too, they join the cases above."""
    with (
        initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"),
        pytest.raises(Exception, match="scorer"),
    ):
        compose("profile", overrides=["+budget=e3d_s_authors"])


def test_the_cases_cover_every_group_and_recipe():
    """The option lists the cases come from are found (an empty one would test nothing, silently)."""
    assert len(group_options("experiment", [])) >= 10
    assert all(len(group_options(group, [])) >= 3 for group in ("preset/size", "preset/recipe"))
    for name, (_, groups, _) in COMMANDS.items():
        for group in groups:
            assert group_options(group.lstrip("+"), []), (name, group)


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=[f"{n}:{' '.join(o)}" for n, o in CASES])
def test_each_option_composes_and_passes_its_commands_checks(name, overrides):
    check = COMMANDS[name][0]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(name, overrides=overrides)
    check(cfg)
