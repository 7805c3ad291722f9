"""Third-party console noise of a training or evaluation, each silenced by its exact message.

None of these says anything about the run: Lightning's tip advertising its cloud logger, its hint to use
``srun`` whenever the command exists (also on a login node, where nobody wants it), and the deprecation
torch raises for the ``LeafSpec`` that Lightning's own pytree helper still builds. (fvcore's torch.jit
deprecation is silenced where it is imported, in e3dnas.models.x3d.)
"""

from __future__ import annotations

import logging
import warnings

#: The logger Lightning's ``rank_zero_info`` writes to.
LIGHTNING_RANK_ZERO = "lightning.pytorch.utilities.rank_zero"
LITLOGGER_TIP = "💡 Tip: For seamless cloud logging"
SRUN_HINT = r"The `srun` command is available on your system but is not used"
LEAFSPEC = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


class _DropTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(LITLOGGER_TIP)


def silence_known_noise() -> None:
    """Install the filters (idempotent: ``warnings`` drops duplicates, the tip filter is added once)."""
    warnings.filterwarnings("ignore", message=SRUN_HINT)
    warnings.filterwarnings("ignore", message=LEAFSPEC, category=FutureWarning)
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO)
    if not any(isinstance(f, _DropTip) for f in rank_zero.filters):
        rank_zero.addFilter(_DropTip())
