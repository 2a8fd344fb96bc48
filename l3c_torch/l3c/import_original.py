"""Import a checkpoint of the original L3C-PyTorch (e.g. the released ``0306_0001``) into a run directory.

Upstream checkpoints are ``ckpts/ckpt_{itr:010d}.pt`` holding ``{'net': state_dict, 'optim': ...}``; this
port uses the same module names (``sub_rgb_mean``, ``heads``, ``nets.i.enc`` / ``nets.i.dec``,
``prob_clfs``, ``enc.levels`` + ``enc.q.levels``), so the state dict loads strictly as is. Loading uses
``torch.load(..., weights_only=True)``.

    python -m l3c.import_original CKPT.pt configs/ms/cr.cf OUT_RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .config import Config, dump_cf, parse_cf
from .model_io import ModelError, load_model, load_weights_only
from .network import MultiscaleNetwork


def import_checkpoint(ckpt: str | Path, ms_config: str | Path, out_dir: str | Path, itr: int | None = None) -> Path:
    ckpt, out_dir = Path(ckpt), Path(out_dir)
    state = load_weights_only(ckpt, "original checkpoint")
    sd = state.get("net") if isinstance(state, dict) and "net" in state else state
    if not isinstance(sd, dict):
        raise ModelError(f"{ckpt}: no 'net' state dict")
    flat = parse_cf(ms_config)
    net = MultiscaleNetwork(Config(flat))
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{ckpt}: does not match {ms_config}: {str(e).splitlines()[0]}") from None
    if itr is None:
        digits = "".join(ch for ch in ckpt.stem if ch.isdigit())
        itr = int(digits) if digits else 0
    (out_dir / "ckpts").mkdir(parents=True, exist_ok=True)
    (out_dir / "config_ms.cf").write_text(dump_cf(flat, note=f"imported with {ckpt}"))
    out = out_dir / "ckpts" / f"ckpt_{itr:010d}.pt"
    torch.save({"net": net.state_dict()}, out)
    load_model(out_dir)  # round-trip check
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt")
    p.add_argument("ms_config")
    p.add_argument("out_dir")
    a = p.parse_args(argv)
    try:
        print(import_checkpoint(a.ckpt, a.ms_config, a.out_dir))
    except (ModelError, ValueError, OSError) as e:
        print(f"import_original: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
