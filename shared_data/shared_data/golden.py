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
