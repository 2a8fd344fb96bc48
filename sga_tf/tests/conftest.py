import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from shared_data import paths, threads  # noqa: E402

threads.limit(2)

KODAK_DIR = paths.kodak_dir()
ZOO_MODEL = ROOT / "zoo" / "mini" / "mbt2018-num_filters=32-lmbda=0.01"
ZOO_BB_MODEL = ROOT / "zoo" / "mini" / "mbt2018_bb-num_filters=32-lmbda=0.01"


@pytest.fixture(scope="session")
def tiny_model():
    from sga.model import MBT2018

    tf.random.set_seed(0)
    return MBT2018(8)


@pytest.fixture(scope="session")
def zoo_model():
    if not (ZOO_MODEL / "args.json").is_file():
        pytest.fail(f"committed model {ZOO_MODEL} is missing (it is part of the repository)")
    from sga.checkpoints import load_model

    return load_model(ZOO_MODEL)
