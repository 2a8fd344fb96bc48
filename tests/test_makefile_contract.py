"""The Makefile contract other issues fill in: every documented target exists, the Python check names what to
install, environments are idempotent."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAPERS = {"cpm": "cpm_tf", "sga": "sga_tf", "l3c": "l3c_torch", "hific": "hific_torch", "irec": "irec_tf"}


def make(*args, check=False):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          check=check, timeout=120)


def targets() -> set[str]:
    out = make("-pRrq", ":").stdout
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z0-9_.-]+):", out, re.M)}


def test_documented_targets_exist():
    t = targets()
    want = {"demo", "test", "setup", "lint", "bench", "test-slow", "setup-tools", "test-readers", "test-crosscheck"}
    for p in PAPERS:
        want |= {f"setup-{p}", f"test-{p}", f"test-slow-{p}", f"reproduce-{p}", f"bench-{p}", f"docker-{p}",
                 f"docker-run-{p}"}
    assert want <= t, sorted(want - t)


def test_layout():
    for name in ["README.md", "Makefile", "pyproject.toml", ".gitignore", ".ci/run", "shared_data", "shared_eval",
                 "docker", "ci", "tests", *PAPERS.values()]:
        assert (REPO / name).exists(), name
    assert "make test" in (REPO / ".ci/run").read_text()


def test_wrong_python_is_named():
    r = make("check-python", "PYTHON=python3.9-does-not-exist")
    assert r.returncode != 0
    assert "Python 3.11 is required" in r.stderr and "pyenv install 3.11" in r.stderr


def test_setup_is_idempotent():
    """With the stamp of the current pins present, a second setup is a no-op (never a rebuild under our feet)."""
    import hashlib

    digest = hashlib.sha256((REPO / "tests/requirements.txt").read_bytes()
                            + (REPO / "tests/requirements.lock").read_bytes()).hexdigest()[:16]
    stamp = REPO / ".venv" / f".stamp-{digest}"
    assert stamp.exists(), f"{stamp} missing: the tools env is stale, run make setup-tools"
    r = make("setup-tools", check=True)
    assert "is up to date" in r.stdout and "creating" not in r.stdout


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_reproduce_wiring(paper):
    """reproduce-<p> runs the sub-project's reproduce.py into runs/<p>/<scale>/ and then the regression check."""
    r = make("-n", f"reproduce-{paper}", "SCALE=mini")
    assert r.returncode == 0, r.stderr
    assert f"reproduce.py --scale mini --out {REPO}/runs/{paper}/mini" in r.stdout
    assert f"shared_eval.check --paper {paper} --scale mini --measures runs/{paper}/mini/measures.csv" in r.stdout


@pytest.mark.parametrize("folder", sorted(PAPERS.values()))
def test_every_pin_is_exact(folder):
    req = REPO / folder / "requirements.txt"
    if not req.exists():
        pytest.fail(f"{req} is missing")
    for line in req.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9_.+\-]*", line), f"{folder}: {line!r}"


@pytest.mark.parametrize("folder", ["tests", *sorted(PAPERS.values())])
def test_lock_covers_the_pins(folder):
    """requirements.lock pins every package exactly and agrees with requirements.txt."""
    def pins(path):
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                assert "==" in line, f"{path}: {line!r} is not an exact pin"
                name, version = line.split("==")
                out[re.sub(r"[-_.]+", "-", name).lower()] = version
        return out

    req, lock = pins(REPO / folder / "requirements.txt"), pins(REPO / folder / "requirements.lock")
    for name, version in req.items():
        assert lock.get(name) == version, f"{folder}: {name}=={version} but the lock says {lock.get(name)}"
