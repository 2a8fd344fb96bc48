"""``python -m cpm_tf encode IN.png OUT --model DIR`` / ``python -m cpm_tf decode IN OUT.png`` from the repo root.

The issue's spelling of the codec CLI: this folder is run as a (namespace) package and dispatches to the
``cpm`` package's CLI (``python -m cpm`` inside ``cpm_tf/``), so both accept the same arguments.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpm.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="python -m cpm_tf"))
