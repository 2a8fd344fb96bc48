"""torch reader (runs where PyTorch is installed, e.g. l3c_torch/.venv; skipped in the tools env)::

    cd /work/main && l3c_torch/.venv/bin/python -m pytest -q shared_data/tests/test_readers_torch.py
"""

import warnings

import numpy as np
import pytest
from _data_helpers import TRAIN_DIR, needs_train
from _reader_helpers import window_of, write_folder, write_shards
from PIL import Image

torch = pytest.importorskip("torch")
torch_data = pytest.importorskip("shared_data.readers.torch_data")

from shared_data.readers import PRESETS, ReaderError  # noqa: E402


def test_l3c_preset_min_size_flip_range(tmp_path):
    write_folder(tmp_path, [(100, 200), (150, 140), (140, 160), (160, 160)])
    with pytest.warns(UserWarning, match=r"img000.png: too-small \(200x100 < 128\)"):
        ds = torch_data.ImageDataset(tmp_path, "l3c", seed=0)
    assert len(ds) == 3 and len(ds.skipped) == 1
    x = ds[0]
    assert x.shape == (3, 128, 128) and x.dtype == torch.float32 and x.max() > 1 and x.max() <= 255
    u8 = torch_data.ImageDataset(tmp_path, "l3c", seed=0, dtype="uint8", channels_first=False, check=False)
    flips = []
    for e in range(30):
        u8.set_epoch(e)
        w = window_of(u8[2].numpy())
        assert w is not None
        flips.append(w[2])
    assert 3 < sum(flips) < 27


def test_center_crop_validation(tmp_path):
    write_folder(tmp_path, [(140, 150)])
    ds = torch_data.ImageDataset(tmp_path, "l3c", center=True, dtype="uint8", channels_first=False)
    assert window_of(ds[0].numpy()) == (6, 11, False)


def test_seeded_items_independent_of_workers(tmp_path):
    write_folder(tmp_path, [(48, 48)] * 6)
    ds = torch_data.ImageDataset(tmp_path, "cpm", crop=32, seed=7, dtype="uint8")
    a = torch.cat(list(torch.utils.data.DataLoader(ds, batch_size=3, num_workers=0)))
    b = torch.cat(list(torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)))
    assert torch.equal(a, b)
    ds.set_epoch(1)
    c = torch.cat(list(torch.utils.data.DataLoader(ds, batch_size=3, num_workers=0)))
    assert not torch.equal(a, c)                     # a new epoch draws new crops


def test_batches_helper_and_distributed_sampler(tmp_path):
    write_folder(tmp_path, [(40, 40)] * 5)
    ds = torch_data.ImageDataset(tmp_path, "sga", crop=32, seed=1, dtype="uint8", channels_first=False)
    it = torch_data.batches(ds, 2, seed=3)
    got = [next(it) for _ in range(4)]               # 2 batches per epoch (drop_last): crosses an epoch
    assert all(g.shape == (2, 32, 32, 3) for g in got) and ds.epoch == 1
    ids = [set(int(v) for v in g[:, 0, 0, 2]) for g in got]
    assert len(ids[0] | ids[1]) == 4
    # each rank's DistributedSampler share of the dataset (batches() builds one when a process group exists)
    shares = []
    for rank in range(2):
        s = torch.utils.data.DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0)
        shares.append(list(s))
    assert len(shares[0]) == len(shares[1]) == 3                     # 5 items padded to 2 x 3
    assert set(shares[0]) | set(shares[1]) == set(range(5))


def test_batches_distributed_single_process_group(tmp_path):
    import torch.distributed as dist
    write_folder(tmp_path, [(40, 40)] * 4)
    ds = torch_data.ImageDataset(tmp_path, "sga", crop=32, seed=1, dtype="uint8")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        it = torch_data.batches(ds, 2)
        assert next(it).shape == (2, 3, 32, 32)
    finally:
        dist.destroy_process_group()


def test_hific_rescale(tmp_path):
    y = np.arange(300)[:, None].repeat(320, 1)
    img = np.stack([np.round(y * 0.8), np.zeros_like(y), np.zeros_like(y)], -1).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "ramp.png")
    ds = torch_data.ImageDataset(tmp_path, "hific", seed=0, dtype="float32")
    scales = []
    for e in range(20):
        ds.set_epoch(e)
        x = ds[0]
        assert x.shape == (3, 256, 256) and 0 <= x.min() and x.max() <= 1
        scales.append(0.8 / np.polyfit(np.arange(256), x[0].mean(dim=1).numpy() * 255, 1)[0])
    assert min(scales) > 0.84 and max(scales) < 0.96 and max(scales) - min(scales) > 0.03


def test_bad_files_replaced_and_named(tmp_path):
    write_folder(tmp_path, [(40, 40)] * 3)
    good = (tmp_path / "img001.png").read_bytes()
    (tmp_path / "img001.png").write_bytes(good[: len(good) // 2])
    ds = torch_data.ImageDataset(tmp_path, "sga", crop=32, seed=0, dtype="uint8", channels_first=False)
    with pytest.warns(UserWarning, match="img001.png"):
        x = ds[1]
    assert int(x[0, 0, 2]) == 2                       # the next readable image
    assert [int(ds[i][0, 0, 2]) for i in range(3)] == [0, 2, 2]


def test_errors(tmp_path):
    write_shards(tmp_path / "r", [(40, 40)])
    with pytest.raises(ReaderError, match="TFRecord shards; the torch reader reads image folders"):
        torch_data.ImageDataset(tmp_path / "r")
    write_folder(tmp_path / "s", [(20, 20)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ReaderError, match="no usable images"):
            torch_data.ImageDataset(tmp_path / "s", "l3c")
    ds = torch_data.ImageDataset(tmp_path / "s", "sga", check=False)
    with pytest.raises(ReaderError, match="smaller than the crop 256"):
        ds[0]
    assert torch_data.ImageDataset(tmp_path / "s", "cpm", check=False, dtype="uint8")[0].shape == (3, 160, 160)


@needs_train
def test_real_photos_every_preset():
    for name in ("cpm", "sga", "hific", "hific-jt", "l3c", "irec"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = torch_data.ImageDataset(TRAIN_DIR, name, seed=0)
        b = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, shuffle=True)))
        c = PRESETS[name].crop
        assert b.shape == (2, 3, c, c) and torch.isfinite(b).all() and b.std() > 0


def test_awkward_modes(tmp_path):
    from _data_helpers import write_bad_inputs
    from _reader_helpers import gradient
    write_bad_inputs(tmp_path, gradient(60, 80))
    with pytest.warns(UserWarning, match=r"skipped 3 file\(s\)"):
        ds = torch_data.ImageDataset(tmp_path, "sga", crop=32, seed=0, dtype="uint8")
    assert len(ds) == 7 and all(ds[i].shape == (3, 32, 32) for i in range(7))
