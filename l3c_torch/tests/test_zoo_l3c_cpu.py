"""The L3C zoo driver (zoo.py, issue 19): the resume rule of the recipe, the training speed options, and the
committed zoo/l3c_cpu model (float32 weights, integer decoder, its pinned Kodak-crop file size)."""
import json
import os

import numpy as np
import pytest
import torch
import zoo  # noqa: E402
from conftest import ROOT, smooth_image
from l3c.config import Config, apply_overrides, parse_cf
from l3c.model_io import list_ckpts, load_model, save_ckpt
from l3c.network import MultiscaleNetwork
from l3c.train_loop import train

from shared_data.imageio import read_image, write_png
from shared_data.paths import kodak_dir

MODEL = ROOT / "zoo" / "l3c_cpu"
KODAK = kodak_dir()


def test_train_cmd_starts_from_init_then_resumes(tmp_path):
    """A fresh run starts from the recipe's init weights (--restore zoo/mini --restore_restart); once a
    checkpoint exists (e.g. after SIGKILL) the same command continues it (--restore RUN --restore_continue)."""
    cmd = zoo.train_cmd("l3c_cpu", tmp_path, minutes=5)
    i = cmd.index("--restore")
    assert cmd[i + 1] == str(ROOT / "zoo" / "mini") and cmd[i + 2] == "--restore_restart"
    assert cmd[cmd.index("--max_minutes") + 1] == "5" and "--cache_images" in cmd
    run = tmp_path / "l3c_cpu" / "logs" / "1201_1200 cr_mini mini"
    ms = parse_cf(ROOT / "configs/ms/cr_mini.cf")
    apply_overrides(ms, ["Cf=8"])
    save_ckpt(run, 7, MultiscaleNetwork(Config(ms)))
    cmd = zoo.train_cmd("l3c_cpu", tmp_path)
    i = cmd.index("--restore")
    assert cmd[i + 1:i + 3] == [str(run), "--restore_continue"] and "--max_minutes" not in cmd


def test_speed_options_train_and_keep_float32(tmp_path):
    """cache_images and bf16 autocast train; checkpoints stay float32; the cache gives the same crops."""
    data = tmp_path / "imgs"
    for i in range(2):
        write_png(data / f"{i}.png", smooth_image(24, 20 + i, seed=i))
    ms, dl = parse_cf(ROOT / "configs/ms/cr_mini.cf"), parse_cf(ROOT / "configs/dl/mini.cf")
    apply_overrides(ms, ["Cf=8", "enc.num_blocks=1", "dec.num_blocks=1"])
    apply_overrides(dl, ["crop_size=16", "batchsize_train=2", "batchsize_val=2", "num_val_batches=1",
                         f"train_imgs_glob={data}", f"val_glob={data}"])
    runs = {}
    for name, kw in {"plain": {}, "cache": {"cache_images": True}, "bf16": {"bf16": True}}.items():
        runs[name] = tmp_path / name
        res = train(Config(ms), Config(dl), runs[name], max_steps=2, log_train=1, log_val=0, save_every=2,
                    quiet=True, **kw)
        assert res["itr"] == 2 and np.isfinite(res["val_bpsp"]) and np.isfinite(res["loss"])
        sd = torch.load(list_ckpts(runs[name])[-1][1], weights_only=True)["net"]
        assert all(v.dtype == torch.float32 for v in sd.values() if v.is_floating_point())
    a, b = (torch.load(list_ckpts(runs[n])[-1][1], weights_only=True)["net"] for n in ("plain", "cache"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same crops, same steps


def test_zoo_model_committed_and_pinned():
    """float32 weights, an integer decoder (portable format 4), <= 30 MB for all of zoo/, and the file size
    on the fixed Kodak crop pinned by regression.json (+-1 %); the measures cover all 24 Kodak images."""
    size = sum(p.stat().st_size for p in (ROOT / "zoo").rglob("*") if p.is_file())
    assert size <= 30 * 2 ** 20
    sd = torch.load(list_ckpts(MODEL)[-1][1], weights_only=True)["net"]
    assert all(v.dtype == torch.float32 for v in sd.values() if v.is_floating_point())
    net, fp, itr = load_model(MODEL)
    assert net.exact is not None
    ref = json.loads((MODEL / "regression.json").read_text())
    assert fp.hex() == ref["fingerprint"] and itr == ref["itr"]
    names = {line.split(",")[0] for line in (MODEL / "measures.csv").read_text().splitlines()[1:]}
    missing = set(json.loads((MODEL / "summary.json").read_text()).get("not_evaluated", []))
    assert names | missing == {f"kodim{i:02d}.png" for i in range(1, 25)} and not names & missing
    if not KODAK.is_dir():
        pytest.skip(f"Kodak not found at {KODAK}")
    from l3c.coding import encode_array

    from shared_data.container import pack

    y0, y1, x0, x1 = ref["crop"]
    img = read_image(KODAK / ref["image"])[y0:y1, x0:x1]
    total = len(pack(encode_array(net, img, fp).container))
    assert abs(total / ref["bytes"] - 1) <= 0.01, (total, ref["bytes"])


def test_sigterm_saves_and_stops(tmp_path):
    """SIGTERM (or a SIGINT that a background launch had ignored) stops training like Ctrl-C: a checkpoint
    of the step reached is saved and train() returns; the previous handler is restored."""
    import signal
    import threading
    import time

    data = tmp_path / "imgs"
    for i in range(2):
        write_png(data / f"{i}.png", smooth_image(24, 20 + i, seed=i))
    ms, dl = parse_cf(ROOT / "configs/ms/cr_mini.cf"), parse_cf(ROOT / "configs/dl/mini.cf")
    apply_overrides(ms, ["Cf=8", "enc.num_blocks=1", "dec.num_blocks=1"])
    apply_overrides(dl, ["crop_size=16", "batchsize_train=2", "batchsize_val=2", "num_val_batches=1",
                         f"train_imgs_glob={data}", f"val_glob={data}"])
    run = tmp_path / "run"

    def killer():  # only once the loop runs (a checkpoint exists), so the handler is installed
        for _ in range(600):
            if list_ckpts(run):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.1)

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=killer)
    t.start()
    res = train(Config(ms), Config(dl), run, max_steps=10 ** 6, log_train=1, log_val=0, save_every=1,
                keep_tmp=1, quiet=True)
    t.join()
    assert 1 <= res["itr"] < 10 ** 6 and list_ckpts(run)[-1][0] == res["itr"]
    assert signal.getsignal(signal.SIGTERM) is before
