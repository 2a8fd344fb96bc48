"""LPIPS (Zhang et al. 2018; AlexNet, net-lin v0.1) as a frozen, eval-mode module, via the ``lpips`` package.

The linear-layer weights ship inside the ``lpips`` wheel. The AlexNet backbone (torchvision's ImageNet
weights, ``alexnet-owt-7be5be79.pth``) is read from a local file -- ``$HIFIC_ALEXNET_WEIGHTS`` or the torch
hub cache -- and never downloaded; when it is absent a clear error names the file. ``pnet_rand=True`` uses a
random backbone (tests only: the numbers are then not LPIPS).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from shared_data.errors import ModelError

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


class LPIPSWeightsMissing(ModelError):
    """The AlexNet backbone weights LPIPS needs are not on disk (never downloaded at run time)."""


class LPIPSWeightsUnusable(LPIPSWeightsMissing):
    """The AlexNet weights file exists but is refused (pickled code, unreadable, not AlexNet)."""


def alexnet_weights_path(explicit: str | os.PathLike | None = None) -> Path:
    """Where the AlexNet backbone weights are expected; raises LPIPSWeightsMissing naming the file."""
    cands = []
    if explicit:
        cands.append(Path(explicit))
    if os.environ.get("HIFIC_ALEXNET_WEIGHTS"):
        cands.append(Path(os.environ["HIFIC_ALEXNET_WEIGHTS"]))
    cands.append(Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE)
    for c in cands:
        if c.is_file():
            return c
    raise LPIPSWeightsMissing(
        f"LPIPS needs the torchvision AlexNet ImageNet weights '{ALEXNET_FILE}' (not downloaded at run time); "
        f"looked in: {', '.join(str(c) for c in cands)}. Put the file there or set HIFIC_ALEXNET_WEIGHTS.")


class LPIPS(nn.Module):
    """LPIPS distance for images in [0, 1] (mapped to [-1, 1] as the paper/TF code do); returns (B,)."""

    def __init__(self, pnet_rand: bool = False, weights_path: str | os.PathLike | None = None):
        super().__init__()
        import lpips  # imports torchvision

        path = None if pnet_rand else alexnet_weights_path(weights_path)
        with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation, from inside lpips
            warnings.simplefilter("ignore", UserWarning)
            net = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        if path is not None:
            from .checkpoints import load_weights_only

            try:
                sd = load_weights_only(path, "AlexNet weights file")
            except ModelError as e:
                raise LPIPSWeightsUnusable(str(e)) from None
            if not isinstance(sd, dict) or not any(isinstance(k, str) and k.startswith("features.") for k in sd):
                raise LPIPSWeightsUnusable(f"{path}: not torchvision's AlexNet state dict (no 'features.*' keys)")
            feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
            target = {}
            for i in range(1, 6):
                sl = getattr(net.net, f"slice{i}")
                for name, _ in sl.named_parameters():
                    target[f"slice{i}.{name}"] = feats[name]
            net.net.load_state_dict(target, strict=True)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.net = net
        self.pnet_rand = pnet_rand

    def train(self, mode: bool = True):  # always eval (frozen)
        super().train(False)
        return self

    def forward(self, x01: torch.Tensor, y01: torch.Tensor) -> torch.Tensor:
        return self.net(x01 * 2 - 1, y01 * 2 - 1).reshape(-1)
