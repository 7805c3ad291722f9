"""Where the configs live.

Each structured config registers itself in Hydra's ConfigStore where it is defined (``search_schema``,
``schema/train``, ``_base/dataset/schema`` …): a command's reader imports the schemas its config names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The configs: e3dnas/conf, shipped in the wheel; in a checkout a symlink to the repository's conf/.
CONF_DIR = str(Path(__file__).with_name("conf"))


def read_conf(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as plain data, for scripts that use one config outside Hydra."""
    return yaml.safe_load((Path(CONF_DIR) / group / f"{name}.yaml").read_text())
