import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]  # top-level scripts (train.py, val.py ...) import via pytest.ini's pythonpath

import pytest  # noqa: E402
from cpm.tfsetup import limit_threads  # noqa: E402

from shared_data import paths  # noqa: E402

limit_threads()

KODAK = paths.kodak_dir()


@pytest.fixture(scope="session")
def kodak_dir():
    if not sorted(KODAK.glob("kodim*.png")):
        pytest.skip(f"Kodak images not found in {KODAK} (set KODAK_DIR)")
    return KODAK


@pytest.fixture(scope="session")
def zoo_codec():
    """The committed zoo/mini model: a missing or broken one fails (never skips)."""
    from cpm.codec import DEFAULT_MODEL, load_codec
    return load_codec(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def mini_codec():
    """A randomly initialised mini model (architecture of ae_configs/mini/low), independent of zoo/."""
    from cpm.codec import load_from_configs
    return load_from_configs(ROOT / "ae_configs/mini/low", ROOT / "pc_configs/mini/res_shallow")
