"""``python -m shared_eval.plot``: the R-D plot command (implementation in :mod:`shared_eval.plots`)."""

import sys

from .plots import main

if __name__ == "__main__":
    sys.exit(main())
