"""Console scripts (``e3dnas-search`` …, see ``[project.scripts]``): each runs its command's ``__main__``
module as ``python -m`` does, so the two can never differ (option checks before Hydra included).

``sys.argv[0]`` stays the script's own name: Hydra's shell completion (``e3dnas-search -sc install=bash``)
then completes ``e3dnas-search`` rather than a file path.
"""

from __future__ import annotations

import runpy
from functools import partial


def run_command(module: str) -> None:
    """``python -m <module>`` with the current command line."""
    runpy.run_module(module, run_name="__main__", alter_sys=False)


search = partial(run_command, "e3dnas.search")
train = partial(run_command, "e3dnas.train")
evaluate = partial(run_command, "e3dnas.evaluate")
arch = partial(run_command, "e3dnas.arch")
report = partial(run_command, "e3dnas.report")
export = partial(run_command, "e3dnas.export")
profile = partial(run_command, "e3dnas.profile")
prepare = partial(run_command, "e3dnas.data.prepare")
