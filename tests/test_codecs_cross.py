"""Every committed checkpoint through its sub-project's real CLI, in its own environment:

- it encodes Kodak crops to real files that decode, and its rate and quality have not regressed against
  ``ci/references/<paper>-zoo.csv`` (zoo tolerances of ``ci/tolerances.toml``);
- a file written by another codec is refused with "codec mismatch"; truncated and corrupt files are refused
  with a clear message, no traceback and no output file;
- the demo driver builds its table from real files.

Codecs without a committed checkpoint are skipped by name, never simulated. Refresh a reference after a
deliberate model change with ``.venv/bin/python -m shared_eval.demo --zoo-check --codecs P --out runs/zoo``
then ``.venv/bin/python -m shared_eval.check --paper P --scale zoo --measures runs/zoo/P/measures.csv
--update-reference`` (``--scale mini --reference ci/references/P-zoo.csv`` is the older spelling).
"""

import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import read_image, sample_images, write_png
from shared_eval import demo
from shared_eval.check import run_check
from shared_eval.measures_csv import read_measures

AVAILABLE = [c for c in demo.CODECS if demo.availability(c) is None]
ALL = {c.name: c for c in demo.CODECS}
KODAK_OK = all((demo.kodak_dir() / f"{n}.png").is_file() for n in demo.ZOO_CHECK_IMAGES)


def _cli(codec, *args, check=True):
    folder = demo.REPO / codec.folder
    proc = subprocess.run([str(folder / ".venv/bin/python"), "-m", codec.package, *map(str, args)], cwd=folder,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{codec.name} {args[0]} failed: {proc.stderr[-2000:]}")
    return proc


def _params():
    out = []
    for c in demo.CODECS:
        why = demo.availability(c)
        out.append(pytest.param(c.name, marks=pytest.mark.skipif(why is not None, reason=f"{c.name}: {why}")))
    return out


@pytest.fixture(scope="module")
def zoo_runs(tmp_path_factory):
    """``get(name)`` → the folder of that codec's zoo check, run on first request only (so ``-k cpm`` runs
    cpm, plus one other codec for the foreign-file case)."""
    if not KODAK_OK:
        pytest.skip(f"Kodak images {demo.ZOO_CHECK_IMAGES} not in {demo.kodak_dir()} (set KODAK_DIR)")
    out = tmp_path_factory.mktemp("zoo")
    done: set[str] = set()

    def get(name: str) -> Path:
        if name not in done:
            rc = demo.main(["--zoo-check", "--out", str(out), "--codecs", name])
            assert rc == 0, f"{name} failed on the Kodak crops (see the printed FAILED line)"
            done.add(name)
        return out / name

    get.done = done
    return get


@pytest.mark.parametrize("name", _params())
def test_committed_checkpoint_has_not_regressed(name, zoo_runs):
    folder = zoo_runs(name)
    measures = folder / "measures.csv"
    rows = read_measures(measures)
    assert len(rows) == len(demo.ZOO_CHECK_IMAGES)
    for r in rows:
        f = folder / "lic" / f"{r['img_name']}.png.lic"
        assert r["bpp"] == pytest.approx(8 * f.stat().st_size / ALL[name].zoo_crop**2, rel=1e-6)
        if ALL[name].lossless:
            assert r["psnr"] is None or r["psnr"] == float("inf")
    ref = demo.REPO / "ci" / "references" / f"{name}-zoo.csv"
    assert ref.is_file(), f"{ref} is missing: record it (see this module's docstring)"
    res = run_check(name, "zoo", measures, reference=ref)
    assert res.passed, res.table() + "\n" + "\n".join(res.notes)


@pytest.mark.parametrize("name", _params())
def test_foreign_corrupt_and_truncated_files_refused(name, zoo_runs, tmp_path):
    codec = ALL[name]
    mine = sorted(zoo_runs(name).glob("lic/*.lic"))[0]
    others = sorted((o.name for o in AVAILABLE if o.name != name), key=lambda o: o not in zoo_runs.done)
    if others:  # prefer a codec that has already run
        foreign = sorted(zoo_runs(others[0]).glob("lic/*.lic"))[0]
    else:  # only one codec: forge the codec id (and fix the CRC) so the mismatch check itself is exercised
        data = bytearray(mine.read_bytes())
        data[5] = 255
        data[-4:] = (zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
        foreign = tmp_path / "foreign.lic"
        foreign.write_bytes(bytes(data))
    data = mine.read_bytes()
    cases = [(foreign, "codec mismatch"), (data[: len(data) // 2], "truncated"),
             (data[:30] + bytes([data[30] ^ 0x40]) + data[31:], "crc")]
    for i, (bad, what) in enumerate(cases):
        if isinstance(bad, bytes):
            p = tmp_path / f"bad{i}.lic"
            p.write_bytes(bad)
            bad = p
        dst = tmp_path / f"out{i}.png"
        r = _cli(codec, "decode", bad, dst, check=False)
        assert r.returncode != 0 and what in r.stderr.lower(), f"{what}: {r.stderr[-1000:]}"
        assert "Traceback" not in r.stderr
        assert not dst.exists()


def test_demo_table_from_real_files(tmp_path):
    """The demo on one small photo with one codec (every codec already ran above) plus JPEG and WebP."""
    img = sample_images(("astronaut",))["astronaut"][:192, :256]
    src = tmp_path / "astro.png"
    write_png(src, img)
    codecs = [c.name for c in AVAILABLE][:1]
    args = ["--images", str(src), "--out", str(tmp_path / "demo")] + (["--codecs", codecs[0]] if codecs else [])
    if not codecs:
        args += ["--codecs", "cpm"]  # none available: the demo must say so and still run the baselines
    assert demo.main(args) == 0
    rows = read_measures(tmp_path / "demo" / "measures.csv")
    assert {r["codec"].split(" ")[0] for r in rows} == set(codecs) | {"jpeg", "webp"}
    for r in rows:
        if r["codec"] in codecs:
            f = Path(tmp_path / "demo" / r["codec"] / "lic" / "astro.png.lic")
            assert r["bpp"] == pytest.approx(8 * f.stat().st_size / (192 * 256), rel=1e-6)
            assert read_image(tmp_path / "demo" / r["codec"] / "rec" / "astro.png").shape == img.shape
        else:  # JPEG/WebP matched to the learned codec's bpp on this image (or 0.5 bpp)
            target = next((x["bpp"] for x in rows if x["codec"] in codecs), 0.5)
            assert abs(r["bpp"] - target) < 0.35 * target + 0.05
    assert (tmp_path / "demo" / "rd.png").stat().st_size > 1000
    assert np.isfinite([r["psnr"] for r in rows]).all()
