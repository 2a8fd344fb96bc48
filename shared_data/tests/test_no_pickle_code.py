"""Dataset batch files never execute pickles (issue 17): CIFAR-10 / downsampled-ImageNet "python version"
batches are pickled dicts of numpy arrays; :func:`shared_data.recipes.small.read_batch` reads them with an
unpickler that allows numpy arrays, lists and numbers only, so a batch file whose pickle carries code is
refused (a ValueError naming the file) and the code never runs."""

import pickle

import numpy as np
import pytest

from shared_data.recipes.small import read_batch


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_real_batch_reads_and_evil_batch_is_refused(tmp_path, protocol):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    good = tmp_path / "data_batch_1"
    good.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 1], b"mean": np.float64(0.5)}, protocol=protocol))
    x, y = read_batch(good, 32)
    assert x.shape == (2, 32, 32, 3) and list(y) == [3, 1]
    marker = tmp_path / "PWNED"
    evil = tmp_path / "data_batch_2"
    evil.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=protocol))
    with pytest.raises(ValueError, match="refused: the pickle calls .*open") as e:
        read_batch(evil, 32)
    assert str(evil) in str(e.value) and not marker.exists()
    pickle.loads(evil.read_bytes())  # control: an unrestricted load runs the code
    assert marker.exists()
