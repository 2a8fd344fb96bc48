"""Checkpoints never execute pickles (issue 17): a malicious pickle (its ``__reduce__`` would create a file)
saved as each kind of file this project loads with torch is refused by every load path — model / zoo
loading, the integer tables (``exact.pt``), ``import_original``, training resume, ``export_run`` — with a
:class:`l3c.model_io.ModelError` naming the file (one ``error:`` line at the CLIs), and the file never
appears. Every torch load goes through :func:`l3c.model_io.load_weights_only` (``weights_only=True``)."""

import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, smooth_image
from l3c.model_io import ModelError, export_run, load_model

from shared_data.imageio import write_png


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears iff pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_file(path, marker, wrap="net"):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({wrap: {"weight": _Evil(marker)}} if wrap else _Evil(marker), path)
    return path


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "a pickled __reduce__ ran: the marker file was created"


def test_the_evil_pickle_is_real(tmp_path):
    """Control: an unrestricted load of the same file does run the code (so the tests below can fail)."""
    m = tmp_path / "control"
    p = _evil_file(tmp_path / "e.pt", m)
    torch.load(p, weights_only=False)
    assert m.exists()


def _run_dir(tmp_path, evil_ckpt=True, evil_exact=False, marker=None):
    d = tmp_path / "run"
    d.mkdir()
    for f in ("config_ms.cf", "config_dl.cf"):
        shutil.copy(ROOT / "zoo/mini" / f, d / f)
    ck = d / "ckpts" / "ckpt_0000000007.pt"
    if evil_ckpt:
        _evil_file(ck, marker)
    else:
        (d / "ckpts").mkdir()
        shutil.copy(next((ROOT / "zoo/mini/ckpts").glob("ckpt_*.pt")), ck)
    if evil_exact:
        _evil_file(d / "exact.pt", marker, wrap="layers")
    return d, ck


def _one_line_error(r, path):
    err = r.stderr.strip()
    assert r.returncode != 0 and "Traceback" not in err, err[-2000:]
    assert len(err.splitlines()) == 1 and "error:" in err and str(path) in err and "refused" in err, err


def _cli(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def test_model_and_zoo_loading(tmp_path, marker):
    d, ck = _run_dir(tmp_path, marker=marker)
    with pytest.raises(ModelError, match="refused") as e:
        load_model(d)
    assert str(ck) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelError, match="refused"):
        export_run(d, tmp_path / "exported")
    img = tmp_path / "x.png"
    write_png(img, smooth_image(8, 8))
    _one_line_error(_cli(["-m", "l3c", "encode", str(img), str(tmp_path / "x.lic"), "--model", str(d)], tmp_path), ck)
    assert not (tmp_path / "x.lic").exists()


def test_integer_tables(tmp_path, marker):
    d, _ = _run_dir(tmp_path, evil_ckpt=False, evil_exact=True, marker=marker)
    with pytest.raises(ModelError, match="refused") as e:
        load_model(d)
    assert str(d / "exact.pt") in str(e.value)


def test_import_original(tmp_path, marker):
    p = _evil_file(tmp_path / "orig" / "ckpt_0000100000.pt", marker, wrap=None)
    from l3c.import_original import import_checkpoint
    with pytest.raises(ModelError, match="refused"):
        import_checkpoint(p, ROOT / "configs/ms/cr_mini.cf", tmp_path / "imported")
    _one_line_error(_cli(["-m", "l3c.import_original", str(p), "configs/ms/cr_mini.cf", str(tmp_path / "imp")],
                         tmp_path), p)
    assert not (tmp_path / "imported").exists() and not (tmp_path / "imp").exists()


def test_training_resume(tmp_path, marker):
    d, ck = _run_dir(tmp_path, marker=marker)
    r = _cli(["train.py", str(d / "config_ms.cf"), str(d / "config_dl.cf"), str(tmp_path / "logs"), "--restore",
              str(d), "--restore_continue", "--max_steps", "8", "--threads", "1"], tmp_path)
    _one_line_error(r, ck)
    assert sorted(p.name for p in (d / "ckpts").iterdir()) == [ck.name]  # nothing trained, nothing saved
