"""torch DistributedDataParallel set-up used by both torch sub-projects (``l3c_torch``, ``hific_torch``):
one function for the process group, one for wrapping, one for rank-0-only work. torch is imported inside
the functions, so this module stays importable from the framework-free code.

Under ``torchrun --nproc_per_node P train.py ...`` (``WORLD_SIZE`` > 1)::

    ctx = ddp.setup("cuda")           # DDPContext(enabled, rank, local_rank, world, device, main)
    net = ddp.wrap(net, ctx)          # DistributedDataParallel on the local device (no-op alone)
    out = ddp.broadcast(out, ctx)     # rank 0's value (e.g. its run folder) on every rank
    if ctx.main: save(...)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DDPContext:
    enabled: bool
    rank: int
    local_rank: int
    world: int
    device: Any  # torch.device

    @property
    def main(self) -> bool:
        """Rank 0 (the only process that writes checkpoints, logs and progress bars)."""
        return self.rank == 0


def world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when run alone)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def setup(device="cpu", backend: str | None = None) -> DDPContext:
    """Join the process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, Gloo on CPU unless ``backend``); a CUDA
    device becomes ``cuda:<LOCAL_RANK>``. Alone, returns a disabled context on ``device``."""
    import torch

    device = torch.device(device)
    world = world_size()
    if world <= 1:
        return DDPContext(False, 0, 0, 1, device)
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if device.type == "cuda" else "gloo"))
    return DDPContext(True, dist.get_rank(), local, dist.get_world_size(), device)


def wrap(module, ctx: DDPContext, **kwargs):
    """``DistributedDataParallel(module)`` on ``ctx``'s device when enabled, else ``module`` itself."""
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, **kwargs)


def broadcast(value, ctx: DDPContext):
    """Rank 0's ``value`` (any picklable object) on every rank; ``value`` itself when alone."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_batch(batch_size: int, ctx: DDPContext) -> int:
    """The per-rank batch size of a global ``batch_size`` (``ValueError`` if not divisible by the world)."""
    if batch_size % ctx.world:
        raise ValueError(f"the batch size {batch_size} (global) is not divisible by the {ctx.world} processes")
    return batch_size // ctx.world


def cleanup(ctx: DDPContext) -> None:
    """Leave the process group (end of training)."""
    if ctx.enabled:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.destroy_process_group()
