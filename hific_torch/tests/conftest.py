import sys
from pathlib import Path

import pytest
import torch

from shared_data import threads

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the root-level scripts (train.py, reproduce.py) for the tests that drive them
threads.limit(1)


@pytest.fixture(scope="session")
def mini_model():
    """A seeded, untrained MINI model with coding tables (fast; no training needed for coding tests)."""
    from hific.config import MINI
    from hific.model import HiFiC

    torch.manual_seed(1234)
    m = HiFiC(MINI).eval()
    m.update()
    return m


@pytest.fixture(scope="session")
def zoo_ckpt():
    """The committed zoo model: missing, it FAILS (a deleted model must not pass as a skip)."""
    p = ROOT / "zoo" / "mini" / "hific_mini.pt"
    assert p.is_file(), f"the committed checkpoint {p} is missing"
    return p


def kodak_files():
    """The Kodak images (shared_data.paths: $KODAK_DIR or ../shared/data/kodak); [] when absent (tests skip)."""
    from shared_data.errors import DatasetError
    from shared_data.paths import kodak_images

    try:
        return kodak_images()
    except DatasetError:
        return []


@pytest.fixture(scope="session")
def portable_model(mini_model):
    """The seeded MINI model with its integer block (hific.portable.integerize), a separate copy."""
    from hific.checkpoints import load_codec_weights
    from hific.config import MINI
    from hific.model import HiFiC
    from hific.portable import integerize

    m = HiFiC(MINI).eval()
    load_codec_weights(m, mini_model.state_dict())
    m.portable = integerize(m)
    m._fingerprint = m._portable_fingerprint = None
    return m
