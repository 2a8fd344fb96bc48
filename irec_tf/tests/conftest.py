import os
import sys
from pathlib import Path

from shared_data.paths import kodak_dir, train_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT.parent
KODAK_DIR = kodak_dir()
TRAIN_DIR = train_dir()


def import_experiment(script: str):
    """Import a sacred experiment script (``examples/...``) in-process (no TF start-up per run), its sibling
    ``datasets`` module on the path the way ``python examples/<kind>/<script>.py`` puts it there; the sibling
    is re-imported each time (lossless and lossy both have one)."""
    import importlib.util

    sys.modules.pop("datasets", None)
    path = ROOT / script
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"_exp_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop("datasets", None)
    return mod
