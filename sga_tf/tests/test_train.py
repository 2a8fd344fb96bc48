"""Training runs, writes the original run name, resumes from its checkpoint and exports a loadable model."""
import json

import numpy as np
from sga.checkpoints import export_weights, load_model
from sga.train import train

from shared_data.imageio import write_png


def test_train_resume_export(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / f"im{i}.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    kw = dict(batchsize=2, patchsize=32, lr=1e-3, logdir=str(tmp_path / "tb"), progress=False, seed=0, jit=False)
    run = train(8, 0.01, str(tmp_path / "*.png"), str(tmp_path / "ck"), last_step=2, **kw)
    assert run.name == "mbt2018-num_filters=8-lmbda=0.01"
    assert json.loads((run / "args.json").read_text())["num_filters"] == 8
    run = train(8, 0.01, str(tmp_path / "*.png"), str(tmp_path / "ck"), last_step=3, **kw)
    starts = [s for s in (run / "record.txt").read_text().splitlines() if s.startswith("start step")]
    assert [s.split()[2] for s in starts] == ["0", "2"]  # the second call resumed at step 2
    assert (run / "checkpoint").is_file() and "ckpt-3" in (run / "checkpoint").read_text()
    model, args = load_model(run)
    out = export_weights(model, args, tmp_path / "export")
    model2, _ = load_model(out)
    for a, b in zip(model.variables, model2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert any(p.name.startswith("events") for p in (tmp_path / "tb" / run.name).iterdir())


def test_train_records_gdn_and_refuses_other_flavour_on_resume(tmp_path):
    import pytest

    rng = np.random.default_rng(0)
    write_png(tmp_path / "im0.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    kw = dict(batchsize=1, patchsize=32, logdir=str(tmp_path / "tb"), progress=False, seed=0, jit=False)
    run = train(4, 0.01, str(tmp_path / "*.png"), str(tmp_path / "ck"), last_step=1, **kw)
    assert json.loads((run / "args.json").read_text())["gdn"] == "original"
    assert load_model(run)[0].gdn == "original"
    with pytest.raises(ValueError, match="trained with gdn='original'"):
        train(4, 0.01, str(tmp_path / "*.png"), str(tmp_path / "ck"), last_step=2, gdn="simplified", **kw)
    args = json.loads((run / "args.json").read_text())
    del args["gdn"], args["rdft"]  # a run started before the fix: resuming keeps its (legacy) flavours
    (run / "args.json").write_text(json.dumps(args))
    with pytest.raises(ValueError, match="trained with rdft='tfc2'"):
        train(4, 0.01, str(tmp_path / "*.png"), str(tmp_path / "ck"), last_step=2, rdft="tfc1", **kw)
