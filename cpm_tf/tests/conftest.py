import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from cpm.tfsetup import limit_threads  # noqa: E402

limit_threads()

KODAK = Path(os.environ.get("KODAK_DIR", ROOT.parent.parent / "shared" / "data" / "kodak"))


@pytest.fixture(scope="session")
def kodak_dir():
    if not sorted(KODAK.glob("kodim*.png")):
        pytest.skip(f"Kodak images not found in {KODAK} (set KODAK_DIR)")
    return KODAK


@pytest.fixture(scope="session")
def zoo_codec():
    from cpm.codec import DEFAULT_MODEL, load_codec
    if not (DEFAULT_MODEL / "weights.npz").is_file():
        pytest.skip("no committed zoo/mini model yet")
    return load_codec(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def mini_codec():
    """A randomly initialised mini model (architecture of ae_configs/mini/low), independent of zoo/."""
    from cpm.codec import load_from_configs
    return load_from_configs(ROOT / "ae_configs/mini/low", ROOT / "pc_configs/mini/res_shallow")
