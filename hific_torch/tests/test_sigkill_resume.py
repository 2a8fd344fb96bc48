"""Training survives SIGKILL (issue 17): ``train.py`` killed mid-run continues with the port's
``--resume RUN/checkpoints/last.pt`` at the step stored in it, and a ``last.pt`` write killed before its
atomic rename (``shared_data.imageio.atomic_write_bytes``: temp file + ``os.replace``) leaves the previous
``last.pt`` as the latest, intact."""

import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hific.checkpoints import load_checkpoint
from PIL import Image

from shared_data.killtest import KILL_IN_CALL, driver, run, run_until_then_kill

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def args(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (72, 72, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return ["-mt", "compression", "--mini", "-bs", "1", "-crop", "64", "--lpips", "off", "-log_intv", "1",
            "-save_intv", "1", "--data_dir", str(d), "-o", str(tmp_path / "runs"), "--schedule_step", "1",
            "--threads", "1"]


def _step(path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def _last(tmp) -> Path:
    return next((tmp / "runs").glob("hific_compression_*")) / "checkpoints" / "last.pt"


def _resume_and_check(args, last: Path, to: int):
    at = _step(last)
    run([sys.executable, "train.py", *args, "-steps", str(to), "--resume", str(last)], cwd=ROOT)
    cfg = (last.parent.parent / "config.json").read_text()
    assert str(last) in cfg  # the resumed run wrote into the same run folder
    m, ck = load_checkpoint(last.parent / "final.pt")  # the final checkpoint loads, tables built
    assert ck["step"] == to and _step(last) == to and to > at


def test_sigkill_mid_run_then_resume(tmp_path, args):
    def ready():
        try:
            return _step(_last(tmp_path)) >= 2
        except (StopIteration, FileNotFoundError):
            return False
    run_until_then_kill([sys.executable, "train.py", *args, "-steps", "100000"], ROOT, ready)
    last = _last(tmp_path)
    at = _step(last)
    assert at >= 2 and not (last.parent / "final.pt").exists()
    load_checkpoint(last, need_tables=False)  # the checkpoint left by the kill is complete
    _resume_and_check(args, last, at + 2)


def test_sigkill_inside_checkpoint_write(tmp_path, args):
    # the 2nd write of last.pt dies after its temp file is written and before os.replace renames it
    cmd = driver(KILL_IN_CALL.format(module="os", attr="replace", after=2, mode="before", match="last.pt"),
                 ROOT / "train.py", [*args, "-steps", "100000"])
    run(cmd, cwd=ROOT, expect_rc=-signal.SIGKILL)
    last = _last(tmp_path)
    assert list(last.parent.glob(".last.pt.*.tmp")), "no temp file left: the kill did not interrupt a save"
    assert _step(last) == 1  # the interrupted step-2 save did not replace the step-1 checkpoint
    _resume_and_check(args, last, 3)
