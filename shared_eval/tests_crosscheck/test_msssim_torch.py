"""shared_eval.metrics against pytorch_msssim.ms_ssim (run in hific_torch's environment by
`make test-crosscheck`)."""

import numpy as np
import pytest
import torch
from conftest import PAIRS
from pytorch_msssim import ms_ssim as torch_ms_ssim

from shared_eval import metrics


@pytest.mark.parametrize("a, b", PAIRS)
def test_against_pytorch_msssim(a, b):
    ta = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[None]
    ref = float(torch_ms_ssim(ta, tb, data_range=255.0, size_average=True))
    ours = metrics.ms_ssim(a, b)
    assert abs(ours - ref) <= 1e-4, (ours, ref)
