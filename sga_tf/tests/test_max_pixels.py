"""Bounded memory (issue 17): ``python -m sga encode`` / ``decode`` refuse an image above the pixel limit up front
(the tests are shared: :mod:`shared_data.limits_tests`; the limits: ``shared_data.limits.DEFAULTS``). The 4K peak
RSS per codec is measured by ``bench.py --rss`` (root README, "Reliability")."""

from pathlib import Path

from shared_data import limits_tests

globals().update(limits_tests.make("sga", Path(__file__).resolve().parents[1]))


def test_original_script_compress_is_refused_up_front(big_png, tmp_path):
    """``mbt2018.py compress`` (the original-style scripts share sga/cli.py) checks the pixel limit of every image
    before TensorFlow is imported or the model loaded, as ``python -m sga encode`` does."""
    import sys

    from shared_data import limits

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "res"
    err, wall, cpu = limits.run_cli_refusal(
        [sys.executable, "mbt2018.py", "--checkpoint_dir", "zoo/mini", "compress", "mbt2018-num_filters=32-lmbda=0.01",
         big_png, "--results_dir", out], big_png, out, root)
    assert "12000x12000" in err and "sga encoder" in err and limits.FLAG in err, err
    assert cpu < 5.0, f"{cpu:.1f} s of CPU to refuse (wall {wall:.1f} s): the check is not up front"
