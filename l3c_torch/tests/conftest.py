import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the root scripts (train.py, test.py, zoo.py, ...) import from here

from shared_data import threads  # noqa: E402

threads.limit(2)

from l3c.config import load_config  # noqa: E402
from l3c.model_io import model_fingerprint  # noqa: E402
from l3c.network import MultiscaleNetwork  # noqa: E402


def make_net(cf="cr_mini", seed=0, **kw):
    torch.manual_seed(seed)
    net = MultiscaleNetwork(load_config(ROOT / "configs" / "ms" / f"{cf}.cf"), **kw).eval()
    return net, model_fingerprint(net)


@pytest.fixture(scope="session")
def mini_net():
    return make_net("cr_mini")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def smooth_image(h, w, seed=0):
    """A photo-like synthetic image (smooth gradients + noise) so trained/untrained models behave sanely."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 60 * np.sin(xx / 7 + c) * np.cos(yy / 9 - c) for c in range(3)], axis=2)
    return np.clip(base + r.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
