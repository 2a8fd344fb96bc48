"""The full-scale driver (reproduce.py --scale full): cr.cf trained for 2 iterations on a tiny folder and
evaluated with real files, on the CPU; and the same through torchrun with 2 DDP processes (gloo)."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT, smooth_image

from shared_data.imageio import write_png

TINY = ["-p", "crop_size=32", "-p", "batchsize_train=2", "-p", "batchsize_val=2", "-p", "num_val_batches=1"]


def _folders(tmp_path):
    tr, va = tmp_path / "train_oi", tmp_path / "val_oi"
    for i in range(4):
        write_png(tr / f"t{i}.png", smooth_image(40, 36 + i, seed=i))
    for i in range(2):
        write_png(va / f"v{i}.png", smooth_image(36, 33 + 5 * i, seed=10 + i))  # >= the 32 crop
    return tr, va


def _run(tmp_path, *extra):
    tr, va = _folders(tmp_path)
    out = tmp_path / "full"
    cmd = [sys.executable, "reproduce.py", "--scale", "full", "--out", str(out), "--train_dir", str(tr),
           "--val_dir", str(va), "--steps", "2", "--allow_cpu", "--workers", "0", *TINY, *extra]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out, r


def _check(out, nproc):
    from shared_eval.measures_csv import read_measures

    rows = read_measures(out / "measures.csv")
    assert sorted(r["img_name"] for r in rows) == ["v0.png", "v1.png"]
    assert all(r["model"] == "L3C" and float(r["bpsp"]) > 0 and r["lossless"] in ("1", 1) for r in rows)
    summ = json.loads((out / "summary.json").read_text())
    assert summ["nproc"] == nproc and summ["models"]["L3C"]["itr"] == 2
    run = next((out / "logs").iterdir())
    assert run.name.split(" ")[1:3] == ["cr", "oi"]  # the paper's config on the Open Images dl config
    assert (run / "ckpts" / "ckpt_0000000002.pt").is_file()
    return summ


def test_full_driver_two_steps(tmp_path):
    out, r = _run(tmp_path)
    _check(out, 1)

def test_full_driver_refuses_without_data(tmp_path):
    r = subprocess.run([sys.executable, "reproduce.py", "--scale", "full", "--out", str(tmp_path / "o"),
                        "--allow_cpu", "--train_dir", str(tmp_path / "nothing"), "--val_dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "openimages-l3c" in r.stderr and "Nothing was run" in r.stderr


@pytest.mark.slow
def test_full_driver_ddp_two_processes(tmp_path):
    """torchrun --nproc_per_node 2 on the CPU (gloo): both ranks train, rank 0 alone writes the run."""
    out, r = _run(tmp_path, "--nproc", "2")
    assert "torchrun" in r.stdout and "--nproc_per_node 2" in r.stdout
    _check(out, 2)
    assert len(list((out / "logs").iterdir())) == 1  # one run directory for both ranks
    # rerun: the finished run is reused, not retrained
    tr, va = tmp_path / "train_oi", tmp_path / "val_oi"
    r2 = subprocess.run([sys.executable, "reproduce.py", "--scale", "full", "--out", str(out), "--train_dir", str(tr),
                         "--val_dir", str(va), "--steps", "2", "--allow_cpu", "--workers", "0", "--nproc", "2",
                         *TINY], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r2.returncode == 0 and "train.py" not in r2.stdout
