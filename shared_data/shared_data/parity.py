"""Parity fixtures: what the ORIGINAL code computed (made by ``tools/parity/make_<paper>_fixture.py`` running
the original in a scratch folder), committed under ``<sub-project>/parity/[<fixture>/]`` with one manifest
schema, checked and loaded by one function for every sub-project.

``MANIFEST.json`` (schema ``lic-parity/1``)::

    {"schema": "lic-parity/1",
     "fixture": "cr",                                   # the folder's name (or the sub-project's for one fixture)
     "original": {"repository": "https://github.com/fab-jul/L3C-PyTorch", "commit": "469d43b…",
                  "branch": "master", "files_sha256": {"src/l3c.py": "…"}},   # branch/files optional
     "generator": "tools/parity/make_l3c_fixture.py",
     "files": {"orig_outputs.npz": {"sha256": "…", "bytes": 123}, …},         # every data file
     "versions": {"python": "3.11.7", "torch": "…", …},                       # of the generator's run
     "params": {…}}                                                            # the fixture's own settings

Use in a parity test::

    fx = parity.load(ROOT / "parity" / "cr", commit=ORIGINAL_COMMIT, required=("orig_outputs.npz",),
                     regen="python tools/parity/make_l3c_fixture.py")
    a = fx.npz("orig_outputs.npz", keys=("P/0", "bpsp"))   # arrays, never pickles
    parity.assert_close("bpsp", ours, a["bpsp"], rtol=1e-5)

Every problem (missing or unparsable manifest, another schema, fixture or commit, a listed file missing or
with another sha256, an unreadable or incomplete ``.npz``) raises :class:`FixtureError`: one line naming the
file and how to regenerate.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LicError

SCHEMA = "lic-parity/1"
MANIFEST = "MANIFEST.json"
#: files of a fixture folder that are not data (never listed in ``files``)
NOT_DATA = (MANIFEST, "PROVENANCE.md")


class FixtureError(LicError, AssertionError):
    """A parity fixture is missing, corrupt, from another commit of the original, or not of this schema."""


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Fixture:
    dir: Path
    manifest: dict
    regen: str = ""
    measured: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest["fixture"]

    @property
    def commit(self) -> str:
        return self.manifest["original"]["commit"]

    @property
    def params(self) -> dict:
        return self.manifest.get("params", {})

    def path(self, rel: str) -> Path:
        """A listed file's path (FixtureError if the manifest does not list it)."""
        if rel not in self.manifest["files"]:
            raise FixtureError(f"{self.dir / MANIFEST}: does not list {rel}{self._regen()}")
        return self.dir / rel

    def npz(self, rel: str, keys: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """The arrays of a listed ``.npz`` (``allow_pickle=False``); FixtureError naming missing ``keys``."""
        p = self.path(rel)
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # zipfile / numpy format errors
            raise FixtureError(f"{p}: unreadable ({type(e).__name__}: {e}){self._regen()}") from None
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise FixtureError(f"{p}: lacks {missing}{self._regen()}")
        return arrays

    def _regen(self) -> str:
        return f"; regenerate with {self.regen}" if self.regen else ""


def load(folder: str | os.PathLike, commit: str | None = None, required: Iterable[str] = (), regen: str = "",
         fixture: str | None = None, check_hashes: bool = True) -> Fixture:
    """Check ``folder/MANIFEST.json`` (schema, ``fixture`` name — default the folder's — the original's
    ``commit`` when given, every ``required`` file listed, every listed file present with its sha256) and
    return the :class:`Fixture`."""
    d = Path(folder)
    mp = d / MANIFEST
    tail = f"; regenerate with {regen}" if regen else ""
    try:
        man = json.loads(mp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"{mp}: missing{tail}") from None
    except (OSError, ValueError) as e:
        raise FixtureError(f"{mp}: unreadable ({type(e).__name__}: {e}){tail}") from None
    if not isinstance(man, dict) or man.get("schema") != SCHEMA:
        got = man.get("schema") if isinstance(man, dict) else type(man).__name__
        raise FixtureError(f"{mp}: not a {SCHEMA} manifest (schema {got!r}){tail}")
    try:
        files, orig = man["files"], man["original"]
        got_commit = orig["commit"]
        if not isinstance(files, dict) or not all(isinstance(v, dict) and "sha256" in v for v in files.values()):
            raise TypeError("'files' must map each path to {'sha256': ...}")
    except (KeyError, TypeError) as e:
        raise FixtureError(f"{mp}: malformed ({type(e).__name__}: {e}){tail}") from None
    want = fixture or d.name
    if man.get("fixture") != want:
        raise FixtureError(f"{mp}: describes fixture {man.get('fixture')!r}, not {want!r}{tail}")
    if commit is not None and got_commit != commit:
        raise FixtureError(f"{mp}: made from original commit {got_commit}, this port follows {commit}{tail}")
    for rel in required:
        if rel not in files:
            raise FixtureError(f"{mp}: does not list {rel}{tail}")
    for rel, info in files.items():
        p = d / rel
        if not p.is_file():
            raise FixtureError(f"{p}: listed in {MANIFEST} but missing{tail}")
        if check_hashes:
            h = sha256(p)
            if h != info["sha256"]:
                raise FixtureError(f"{p}: sha256 {h[:16]}… differs from {MANIFEST}'s {str(info['sha256'])[:16]}… "
                                   f"(corrupt or edited fixture){tail}")
    return Fixture(d, man, regen)


def data_files(folder: str | os.PathLike) -> list[str]:
    """Every file under ``folder`` except the manifest and PROVENANCE.md (relative POSIX paths, sorted)."""
    d = Path(folder)
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file() and p.name not in NOT_DATA)


def manifest(folder: str | os.PathLike, *, fixture: str, repository: str, commit: str, generator: str,
             versions: Mapping | None = None, params: Mapping | None = None, branch: str | None = None,
             original_files: Mapping[str, str] | None = None, files: Iterable[str] | None = None) -> dict:
    """The manifest of ``folder``'s data files (``files``: default :func:`data_files`), for
    :func:`write_manifest`."""
    d = Path(folder)
    orig = {"repository": repository, "commit": commit}
    if branch:
        orig["branch"] = branch
    if original_files:
        orig["files_sha256"] = dict(sorted(original_files.items()))
    rels = data_files(d) if files is None else sorted(files)
    return {"schema": SCHEMA, "fixture": fixture, "original": orig, "generator": generator,
            "files": {r: {"sha256": sha256(d / r), "bytes": (d / r).stat().st_size} for r in rels},
            "versions": dict(versions or {}), "params": dict(params or {})}


def write_manifest(folder: str | os.PathLike, man: Mapping) -> Path:
    """Write ``MANIFEST.json`` atomically (write it LAST: a killed generator leaves the old manifest, which then
    names the stale files and fails the check)."""
    from .imageio import atomic_write_bytes

    p = Path(folder) / MANIFEST
    atomic_write_bytes(p, (json.dumps(man, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode())
    return p


def rel_err(ours, ref) -> float:
    """max |ours − ref| / max(max |ref|, 1e-12): the one relative-error measure of the parity tests."""
    a, b = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shape {a.shape} differs from the original's {b.shape}")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)) if a.size else 0.0


def assert_close(name: str, ours, ref, rtol: float, measured: dict | None = None) -> float:
    """Assert :func:`rel_err` ≤ ``rtol`` (message: name, error, tolerance); records it in ``measured``."""
    e = rel_err(ours, ref)
    if measured is not None:
        measured[name] = max(e, measured.get(name, 0.0))
    if not e <= rtol:
        raise AssertionError(f"{name}: relative error {e:.3g} vs the original exceeds {rtol:g}")
    return e


__all__ = ["SCHEMA", "Fixture", "FixtureError", "load", "manifest", "write_manifest", "data_files", "rel_err",
           "assert_close", "sha256"]
