"""shared_eval.metrics against TensorFlow's own tf.image.ssim_multiscale / tf.image.psnr (run in cpm_tf's
environment by `make test-crosscheck`)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import PAIRS

from shared_eval import metrics


@pytest.mark.parametrize("a, b", PAIRS)
def test_against_tf(a, b):
    ta = tf.constant(a[None].astype(np.float64))
    tb = tf.constant(b[None].astype(np.float64))
    ref = float(tf.image.ssim_multiscale(ta, tb, max_val=255.0)[0])
    ours = metrics.ms_ssim(a, b)
    assert abs(ours - ref) <= 1e-4, (ours, ref)
    assert metrics.psnr(a, b) == pytest.approx(float(tf.image.psnr(ta, tb, max_val=255.0)[0]), abs=1e-4)  # tf.image.psnr works in float32
