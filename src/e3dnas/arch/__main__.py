"""``python -m e3dnas.arch FILE|NAME [...] [--latency-table T]``: see :mod:`e3dnas.describe`."""

import sys

from e3dnas.describe import main

if __name__ == "__main__":
    sys.exit(main())
