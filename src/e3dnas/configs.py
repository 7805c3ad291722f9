"""Where the configs live, and the structured configs every composition needs.

Each command's own schema registers itself in Hydra's ConfigStore where it is defined (``search_schema``,
``schema/train`` …); the dataset schema is imported here because conf/_base/dataset/ names it, so whatever
composes a config through :data:`CONF_DIR` finds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import e3dnas.data.config  # noqa: F401  (registers _base/dataset/schema)

#: The configs: e3dnas/conf, shipped in the wheel; in a checkout a symlink to the repository's conf/.
CONF_DIR = str(Path(__file__).with_name("conf"))


def read_conf(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as plain data, for scripts that use one config outside Hydra."""
    return yaml.safe_load((Path(CONF_DIR) / group / f"{name}.yaml").read_text())
