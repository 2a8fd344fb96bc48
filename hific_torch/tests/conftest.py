import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)


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
    p = ROOT / "zoo" / "mini" / "hific_mini.pt"
    if not p.is_file():
        pytest.skip(f"no committed checkpoint at {p}")
    return p


def kodak_files():
    d = Path(os.environ.get("KODAK_DIR", ROOT.parent.parent / "shared" / "data" / "kodak"))
    return sorted(d.glob("*.png")) if d.is_dir() else []


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
