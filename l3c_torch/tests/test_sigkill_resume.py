"""Training survives SIGKILL (issue 17): ``train.py`` killed mid-run resumes with upstream's
``--restore RUN --restore_continue`` at the step of its latest checkpoint, and a checkpoint write killed
half-way (``torch.save`` of ``ckpts/.ckpt_N.pt.tmp``, before the rename) never becomes the latest."""

import re
import signal
import sys

import pytest
from conftest import ROOT, smooth_image
from l3c.config import apply_overrides, dump_cf, parse_cf
from l3c.model_io import list_ckpts, load_model

from shared_data.imageio import write_png
from shared_data.killtest import KILL_IN_CALL, driver, run, run_until_then_kill

OVR = ["Cf=8", "enc.num_blocks=1", "dec.num_blocks=1", "crop_size=16", "batchsize_train=2", "batchsize_val=2",
       "num_val_batches=1"]


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "imgs"
    for i in range(3):
        write_png(data / f"{i}.png", smooth_image(24, 20 + i, seed=i))
    ms, dl = parse_cf(ROOT / "configs/ms/cr_mini.cf"), parse_cf(ROOT / "configs/dl/mini.cf")
    apply_overrides(ms, [f"train_imgs_glob={data}", f"val_glob={data}", *OVR], dl)
    (tmp_path / "ms.cf").write_text(dump_cf(ms))
    (tmp_path / "dl.cf").write_text(dump_cf(dl))
    args = [str(tmp_path / "ms.cf"), str(tmp_path / "dl.cf"), str(tmp_path / "logs"), "-W", "0", "-si", "1",
            "-lval", "0", "--threads", "1"]
    return tmp_path, args


def _run_dir(tmp):
    (d,) = (p for p in (tmp / "logs").iterdir() if p.is_dir())
    return d


def _resume_and_check(tmp, args, run_dir, at, to):
    out = run([sys.executable, "train.py", *args, "--restore", str(run_dir), "--restore_continue", "--max_steps", str(to)],
              cwd=ROOT)
    m = re.search(r"restored .*ckpt_(\d+)\.pt \(continue at (\d+)\)", out)
    assert m and int(m.group(1)) == int(m.group(2)) == at, out[-2000:]
    assert f"done: itr {to}" in out, out[-2000:]
    assert list_ckpts(run_dir)[-1][0] == to
    net, fp, itr = load_model(run_dir)  # the final checkpoint loads (weights_only)
    assert itr == to and len(fp) == 8


def test_sigkill_mid_run_then_restore_continue(setup):
    tmp, args = setup
    kill_args = [sys.executable, "train.py", *args, "--max_steps", "100000"]
    run_until_then_kill(kill_args, ROOT, lambda: (tmp / "logs").is_dir() and any(
        list_ckpts(d) and list_ckpts(d)[-1][0] >= 2 for d in (tmp / "logs").iterdir()))
    run_dir = _run_dir(tmp)
    ckpts = list_ckpts(run_dir)
    last = ckpts[-1][0]
    assert last >= 2
    load_model(run_dir, itr=last)  # the latest checkpoint after the kill is complete
    _resume_and_check(tmp, args, run_dir, at=last, to=last + 2)


def test_sigkill_inside_checkpoint_write(setup):
    tmp, args = setup
    # the 3rd torch.save writes half of the checkpoint's bytes to the temp file, then the process dies
    cmd = driver(KILL_IN_CALL.format(module="torch", attr="save", after=3, mode="half", match=""), ROOT / "train.py",
                 [*args, "--max_steps", "100000"])
    run(cmd, cwd=ROOT, expect_rc=-signal.SIGKILL)
    run_dir = _run_dir(tmp)
    tmps = list((run_dir / "ckpts").glob(".*.tmp"))
    assert tmps, "the killed write left no temp file: the test did not interrupt a save"
    assert [i for i, _ in list_ckpts(run_dir)] == [1, 2]  # the half-written 3rd is not a checkpoint
    _resume_and_check(tmp, args, run_dir, at=2, to=4)

