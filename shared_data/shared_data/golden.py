"""The one golden-file convention (constriction's golden-bitstream tests): a committed file pins the exact
bytes a codec writes for a fixed input; a missing golden **fails** (a deleted golden must not pass), and
``<CODEC>_UPDATE_GOLDEN=1`` (``CPM_``, ``SGA_``, ``L3C_``, ``HIFIC_``, ``IREC_UPDATE_GOLDEN=1``; ``LIC_UPDATE_GOLDEN=1`` for all) rewrites it::

    from shared_data import golden
    golden.check(ROOT / "tests/golden/tiny.lic", data, "cpm")
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def update_requested(pkg: str) -> bool:
    """Whether ``<PKG>_UPDATE_GOLDEN`` or ``LIC_UPDATE_GOLDEN`` is set to a non-empty value other than 0."""
    return any(os.environ.get(v, "") not in ("", "0") for v in (f"{pkg.upper()}_UPDATE_GOLDEN", "LIC_UPDATE_GOLDEN"))


#: the variables that select float kernels (an emulated CPU; :mod:`shared_data.arith`)
KERNEL_VARS = ("ATEN_CPU_CAPABILITY", "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
               "OPENBLAS_CORETYPE")


def arith_here() -> dict:
    """This process's float arithmetic as a golden's writer records it: the CPU's ISA and the set kernel variables.
    A float *encoder* (a network choosing symbols) writes the same bytes only under the same arithmetic; the
    decoders' results are pinned everywhere."""
    from . import arith
    return {"isa": arith.isa(), "kernels": {k: os.environ[k] for k in KERNEL_VARS if os.environ.get(k)}}


def other_arith(meta: dict) -> str | None:
    """Why bytes a float encoder wrote under ``meta`` (an :func:`arith_here` record) cannot be pinned in this
    process, or None when the arithmetic is the writer's."""
    here = arith_here()
    if (meta.get("isa"), meta.get("kernels", {})) == (here["isa"], here["kernels"]):
        return None
    return (f"encoded on a {meta.get('isa')} CPU with kernel settings {meta.get('kernels', {})}, this process has "
            f"{here['isa']} / {here['kernels']}: the float encoder may choose other symbols (its decoding is pinned "
            "everywhere)")


def check(path: str | os.PathLike, data: bytes, pkg: str) -> None:
    """Assert ``data`` equals the golden file ``path`` byte for byte (or rewrite it when asked, see module)."""
    from .imageio import atomic_write_bytes

    path = Path(path)
    var = f"{pkg.upper()}_UPDATE_GOLDEN"
    if update_requested(pkg):
        atomic_write_bytes(path, data)
        return
    if not path.is_file():
        raise AssertionError(f"golden file {path} is missing: the bytes it pins are unchecked (rerun with {var}=1 "
                             "to write it, and commit it)")
    want = path.read_bytes()
    if want != data:
        raise AssertionError(
            f"{path}: the codec wrote {len(data)} bytes (sha256 {hashlib.sha256(data).hexdigest()[:16]}) but the "
            f"golden file has {len(want)} (sha256 {hashlib.sha256(want).hexdigest()[:16]}); the bitstream changed — "
            f"if on purpose, rerun with {var}=1 and say why in the commit")
