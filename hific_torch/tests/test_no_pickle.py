"""Checkpoints never execute pickles (issue 17): a malicious pickle (its ``__reduce__`` would create a file)
saved as each kind of file this project loads with torch is refused by every load path — model / zoo
loading (``--model``, also the portable integer tables, which live in the checkpoint), ``import_original``,
training ``--resume`` and ``-warmstart -ckpt``, the LPIPS AlexNet weights — with the project's error
(:class:`shared_data.errors.ModelError` / ``LPIPSWeightsUnusable``) naming the file, one ``error:`` line at the
CLIs, and the file never appears. Every torch load goes through :func:`hific.checkpoints.load_weights_only`."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hific.checkpoints import load_checkpoint
from PIL import Image

from shared_data.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears iff pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "a pickled __reduce__ ran: the marker file was created"


def _evil(path, marker, kind="hific"):
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"hific": {"format": "hific_torch/1", "config": {}, "state_dict": {"w": _Evil(marker)}, "step": 3,
                         "model_type": "compression"},
               "port": {"model_state_dict": {"Encoder.conv_block1.1.weight": _Evil(marker)}, "args": {}},
               "alexnet": {"features.0.weight": _Evil(marker)}}[kind]
    torch.save(payload, path)
    return path


def _cli(args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def _one_line_error(r, path):
    err = r.stderr.strip()
    assert r.returncode != 0 and "Traceback" not in err, err[-2000:]
    lines = err.splitlines()
    assert "error:" in lines[0] and str(path) in lines[0] and "refused" in lines[0], err
    return lines


def test_the_evil_pickle_is_real(tmp_path):
    """Control: an unrestricted load of the same file does run the code (so the tests below can fail)."""
    m = tmp_path / "control"
    torch.load(_evil(tmp_path / "e.pt", m), weights_only=False)
    assert m.exists()


def test_model_loading_and_cli(tmp_path, marker):
    p = _evil(tmp_path / "evil.pt", marker)
    with pytest.raises(ModelError, match="refused") as e:
        load_checkpoint(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)
    img = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16, 3), 99, np.uint8)).save(img)
    assert len(_one_line_error(_cli(["-m", "hific", "encode", str(img), str(tmp_path / "x.lic"), "--model", str(p)]),
                               p)) == 1
    assert not (tmp_path / "x.lic").exists()


def test_import_original(tmp_path, marker):
    from hific.import_original import import_port_checkpoint
    p = _evil(tmp_path / "hific_low.pt", marker, "port")
    with pytest.raises(ModelError, match="refused"):
        import_port_checkpoint(p)
    r = _cli(["-m", "hific.import_original", str(p), str(tmp_path / "out.pt")])
    assert len(_one_line_error(r, p)) == 1 and not (tmp_path / "out.pt").exists()


def _train_cli(args, capsys):
    """train.py's main in-process (its exit status and stderr), as tests/test_train.py does."""
    import train as train_cli
    capsys.readouterr()
    rc = train_cli.main(args)
    return subprocess.CompletedProcess(args, rc, "", capsys.readouterr().err)


def test_training_resume_and_warmstart(tmp_path, marker, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(2):
        Image.fromarray(np.full((72, 72, 3), 40 * i, np.uint8)).save(d / f"{i}.png")
    last = _evil(tmp_path / "run" / "checkpoints" / "last.pt", marker)
    common = ["-mt", "compression", "--mini", "-bs", "1", "-crop", "64", "--lpips", "off", "-steps", "5",
              "--data_dir", str(d), "-o", str(tmp_path / "runs")]
    assert len(_one_line_error(_train_cli([*common, "--resume", str(last)], capsys), last)) == 1
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt"]  # nothing trained or saved
    assert len(_one_line_error(_train_cli([*common, "-warmstart", "-ckpt", str(last)], capsys), last)) == 1


def test_perceptual_weights(tmp_path, marker, capsys, monkeypatch):
    from hific.perceptual import LPIPS, LPIPSWeightsUnusable
    p = _evil(tmp_path / "alexnet-owt-7be5be79.pth", marker, "alexnet")
    with pytest.raises(LPIPSWeightsUnusable, match="refused") as e:
        LPIPS(weights_path=p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(np.full((72, 72, 3), 7, np.uint8)).save(d / "0.png")
    monkeypatch.setenv("HIFIC_ALEXNET_WEIGHTS", str(p))
    r = _train_cli(["-mt", "compression", "--mini", "-bs", "1", "-crop", "64", "-steps", "1", "--data_dir", str(d),
                    "-o", str(tmp_path / "runs")], capsys)
    assert len(_one_line_error(r, p)) == 2  # the error line, then train.py's hint "(use --lpips off ...)"
