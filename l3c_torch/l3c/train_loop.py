"""Training (upstream ``train/multiscale_trainer.py`` + ``trainer.py``): RMSprop, exponential LR schedule,
loss = sum of bpsp over the predicted levels (L3C eq. (7)), TensorBoard, checkpoints, resume."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from shared_data import ddp
from shared_data.errors import ModelError

from .config import Config, ConfigError, dump_cf
from .data import resolve_glob
from .model_io import find_run, list_ckpts, load_weights_only, save_ckpt, upgrade_state_dict
from .network import MultiscaleNetwork, bpsp_from_nlls, loss_from_nlls


def _interval(spec: str, epoch_len: int, schedule: str) -> int:
    """``iN`` -> N iterations, ``eN`` -> int(N * epoch_len) (N may be fractional for epochs, as upstream)."""
    if len(spec) < 2 or spec[0] not in "ie":
        raise ValueError(f"lr.schedule {schedule!r}: invalid interval {spec!r} (expected iN or eN)")
    try:
        return int(spec[1:]) if spec[0] == "i" else int(float(spec[1:]) * epoch_len)
    except ValueError:
        raise ValueError(f"lr.schedule {schedule!r}: invalid interval {spec!r}") from None


def lr_at(schedule: str, initial: float, itr: int, epoch_len: int) -> float:
    """The learning rate at iteration ``itr`` for upstream's schedule grammar (``train/lr_schedule.py``):

    - ``none``: constant ``initial``;
    - ``exp_F_iN`` / ``exp_F_eN``: ``initial * F ** floor(itr / N)``, N in iterations or epochs
      (``eN`` = ``int(N * epoch_len)`` iterations, N may be fractional);
    - ``exp_F_I_warm_W_F2_I2``: as ``exp_F_I`` until iteration W (in epochs when I is, as upstream), then a
      warm restart: ``initial * F2 ** floor((itr - W) / I2)`` (upstream's warm schedule has no further restarts);
    - ``cos_LRMAX_LRMIN_(iT|eT)``: ``LRMIN + (LRMAX - LRMIN) * cos(pi * (itr mod T) / (2T))`` (a quarter cosine
      from LRMAX towards LRMIN, restarting every T; ``initial`` is ignored, as upstream).

    Upstream's schedule object is stateful (a run resumed after W restarts only at the next multiple of W);
    this function is the continuous-run value. Malformed specs raise ValueError (upstream: an assertion)."""
    if schedule in ("none", None):
        return initial
    kind, _, rest = str(schedule).partition("_")
    parts = rest.split("_") if rest else []
    try:
        if kind == "exp" and len(parts) == 2:
            return initial * float(parts[0]) ** (itr // max(_interval(parts[1], epoch_len, schedule), 1))
        if kind == "exp" and len(parts) == 6 and parts[2] == "warm":
            fac, ivl, _, warm, fac2, ivl2 = parts
            w = int(warm) if ivl[0] == "i" else int(int(warm) * epoch_len)
            if w > 0 and itr >= w:
                return initial * float(fac2) ** ((itr - w) // max(_interval(ivl2, epoch_len, schedule), 1))
            return initial * float(fac) ** (itr // max(_interval(ivl, epoch_len, schedule), 1))
        if kind == "cos" and len(parts) == 3:
            lrmax, lrmin = float(parts[0]), float(parts[1])
            T = max(_interval(parts[2], epoch_len, schedule), 1)
            return lrmin + (lrmax - lrmin) * math.cos(math.pi * (itr % T) / (2 * T))
    except ValueError as e:
        if "lr.schedule" in str(e):
            raise
        raise ValueError(f"lr.schedule {schedule!r}: {e}") from None
    raise ValueError(f"lr.schedule {schedule!r}: not in upstream's grammar (none | exp_F_(iN|eN)"
                     "[_warm_W_F2_(iN|eN)] | cos_LRMAX_LRMIN_(iT|eT))")


def _make_optim(cfg: Config, net):
    if cfg.optim != "RMSprop":
        raise NotImplementedError(f"optim {cfg.optim!r}: only RMSprop (the paper's) is implemented")
    # PyTorch defaults (alpha 0.99, eps 1e-8, no momentum), no gradient clipping, as upstream.
    return torch.optim.RMSprop(net.parameters(), lr=cfg.lr.initial, weight_decay=cfg.weight_decay)


def _stop_on_signals():
    """SIGTERM and SIGINT stop training like Ctrl-C (save, then return), also in a process started in the
    background, where SIGINT is inherited as ignored (not upstream). Returns the function restoring the
    previous handlers. Only in the main thread (Python's rule)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(sig, h) for sig, h in old.items()]


def train(ms_cfg: Config, dl_cfg: Config, run_dir: Path, *, restore: tuple[Path, int] | None = None,
          restart: bool = False, log_train=100, log_train_heavy=5, log_val=500, save_every=250,
          keep_every=10, keep_tmp=3, no_saver=False, workers=0, max_steps=None, max_minutes=None,
          seed=0, quiet=False, device=None, cache_images=False, bf16=False) -> dict:
    """Train until ``max_steps``/``max_minutes`` (upstream trains forever: ``max_epochs=None``).

    Data: :class:`shared_data.readers.torch_data.ImageDataset` with the ``l3c`` preset (random
    ``crop_size`` crop + horizontal flip, float 0..255, images smaller than the crop dropped; validation:
    centre crops of the first ``num_val_batches * batchsize_val`` val images), crops seeded by
    ``(seed, epoch, index)``. Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
    DistributedDataParallel (not upstream), each rank reads its ``DistributedSampler`` share with batch
    ``batchsize_train // world`` (so the global batch stays ``batchsize_train``) and rank 0 alone logs,
    validates and saves.

    Speed options (issue 19, not upstream; measured in ``zoo/*/TRAINING.md``): ``cache_images`` keeps every
    decoded training image in memory (the same crops: they depend on ``(seed, epoch, index)`` only);
    ``bf16`` runs forward and loss under ``torch.autocast(dtype=bfloat16)`` on CPU (parameters, optimizer
    state and checkpoints stay float32; validation runs in float32)."""
    from shared_data.readers.torch_data import ImageDataset, batches

    torch.manual_seed(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ctx = ddp.setup(device)  # torchrun (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU; alone: disabled
    distributed, world, device, main = ctx.enabled, ctx.world, ctx.device, ctx.main
    quiet = quiet or not main
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as upstream
    core = MultiscaleNetwork(ms_cfg).to(device)
    optim = _make_optim(ms_cfg, core)
    itr = 0
    if restore is not None:
        src, ritr = restore
        ck = dict(list_ckpts(src))
        if not ck:
            raise ModelError(f"{src}: no checkpoints to restore")
        ritr = max(ck) if ritr == -1 else ritr
        if ritr not in ck:
            raise ModelError(f"{src}: no checkpoint for iteration {ritr} (have {sorted(ck)})")
        state = load_weights_only(ck[ritr], map_location=device)
        upgraded = upgrade_state_dict(state["net"])
        core.load_state_dict(upgraded)
        if not restart:
            itr = ritr
            # an old-layout checkpoint's optimizer state is ordered differently: start the optimizer afresh
            if "optim" in state and upgraded is state["net"]:
                optim.load_state_dict(state["optim"])
        if not quiet:
            print(f"restored {ck[ritr]} ({'restart at 0' if restart else f'continue at {itr}'})")
    net = ddp.wrap(core, ctx)
    files = resolve_glob(str(dl_cfg.train_imgs_glob), required=True, what="train_imgs_glob")
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        ds = ImageDataset([str(f) for f in files], preset="l3c", crop=dl_cfg.crop_size, seed=seed,
                          cache=cache_images)
        val_files = resolve_glob(str(dl_cfg.val_glob))
        val_ds = ImageDataset([str(f) for f in val_files], preset="l3c", crop=dl_cfg.crop_size, center=True,
                              seed=seed) if val_files else None
    if val_ds is not None:
        val_ds = torch.utils.data.Subset(val_ds, range(min(len(val_ds),
                                                           dl_cfg.num_val_batches * dl_cfg.batchsize_val)))
    bs = dl_cfg.batchsize_train // world
    if bs < 1:
        raise ConfigError(f"batchsize_train={dl_cfg.batchsize_train} is smaller than the {world} DDP processes")
    epoch_len = max(1, len(ds) // (bs * world))
    data = batches(ds, bs, num_workers=workers, seed=seed, start_epoch=itr // epoch_len, distributed=distributed)
    writer = SummaryWriter(str(run_dir)) if main else None
    t_start, last = time.time(), {}
    max_steps = math.inf if max_steps is None else max_steps
    bar = tqdm(total=None if math.isinf(max_steps) else max_steps, initial=itr, disable=quiet,
               desc="train", dynamic_ncols=True)

    def validate():
        if val_ds is None:
            return float("nan")
        core.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for b in torch.utils.data.DataLoader(val_ds, batch_size=dl_cfg.batchsize_val):
                b = b.to(device)
                nlls, encs = core(b)
                bpsps = bpsp_from_nlls(nlls, b.numel())
                tot += (sum(bpsps) + core.uniform_bits(encs) / b.numel()) * b.shape[0]
                n += b.shape[0]
        core.train()
        return tot / max(n, 1)

    def save():
        if no_saver or not main:
            return
        save_ckpt(run_dir, itr, core, optim)
        # keep every keep_every-th save; of the others only the last keep_tmp
        tmp = [(i, p) for i, p in list_ckpts(run_dir) if (i // max(save_every, 1)) % keep_every != 0]
        for _, p in tmp[:-keep_tmp]:
            p.unlink(missing_ok=True)

    def time_up() -> bool:
        up = bool(max_minutes) and time.time() - t_start > 60 * max_minutes
        if distributed and max_minutes:  # all ranks must stop at the same step
            flag = torch.tensor([float(up)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            up = bool(flag.item())
        return up

    net.train()
    restore_signals = _stop_on_signals() if not distributed else (lambda: None)
    try:
        while itr < max_steps:
            batch = next(data).to(device, non_blocking=True)
            lr = lr_at(ms_cfg.lr.schedule, ms_cfg.lr.initial, itr, epoch_len)
            for g in optim.param_groups:
                g["lr"] = lr
            optim.zero_grad()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                nlls, encs = net(batch)
                nlls = [n.float() for n in nlls] if bf16 else nlls
                loss = loss_from_nlls(nlls, batch.numel())
            loss.backward()
            optim.step()
            itr += 1
            bar.update(1)
            if main and (itr % log_train == 0 or itr == 1):
                bpsps = bpsp_from_nlls([n.detach() for n in nlls], batch.numel())
                writer.add_scalar("train/loss", float(loss.detach()), itr)
                writer.add_scalar("train/lr", lr, itr)
                for i, b in enumerate(bpsps):
                    writer.add_scalar(f"train/bpsp_{i}", b, itr)
                writer.add_scalar("train/bpsp_total", sum(bpsps) + core.uniform_bits(encs) / batch.numel(), itr)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.1e}")
                last = {"itr": itr, "loss": float(loss.detach()), "bpsp_levels": bpsps}
            if main and log_train_heavy and itr % (log_train * log_train_heavy) == 0:
                for n_, p in core.named_parameters():
                    if p.requires_grad:
                        writer.add_histogram(f"weights/{n_}", p.detach(), itr)
            if main and log_val and itr % log_val == 0:
                v = validate()
                writer.add_scalar("val/bpsp", v, itr)
                last["val_bpsp"] = v
            if save_every and itr % save_every == 0:
                save()
            if time_up():
                break
    except KeyboardInterrupt:
        print("interrupted; saving", flush=True)
    finally:
        restore_signals()
        bar.close()
        if writer is not None:
            writer.flush()
    # reached only after a normal stop or Ctrl-C: a crash must not overwrite the last good checkpoint
    if main:
        last["val_bpsp"] = validate()
        writer.add_scalar("val/bpsp", last["val_bpsp"], itr)
        writer.close()
        save()
    if distributed:
        torch.distributed.barrier()
    last.update(itr=itr, wall_s=time.time() - t_start, world_size=world)
    return last


def new_run_dir(log_dir_root: Path, ms_path: Path, dl_path: Path, overrides: list[str], temporary=False):
    """``LOG_DIR/MMDD_HHMM <ms> <dl> [k=v ...]`` (upstream naming; ``-t`` puts it under ``_TMP``)."""
    stamp = time.strftime("%m%d_%H%M")
    # path separators in -p values (e.g. train_imgs_glob=/data/x) would nest directories: flattened to "_"
    name = " ".join([stamp, ms_path.stem, dl_path.stem, *overrides]).replace("/", "_")
    root = log_dir_root / "_TMP" if temporary else log_dir_root
    d = root / name
    k = 1
    while d.exists():  # two runs in the same minute
        d = root / f"{name}_{k}"
        k += 1
    return d


def write_run_configs(run_dir: Path, ms_flat: dict, dl_flat: dict, ms_src: Path, dl_src: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config_ms.cf").write_text(dump_cf(ms_flat, note=f"resolved from {ms_src}"))
    (run_dir / "config_dl.cf").write_text(dump_cf(dl_flat, note=f"resolved from {dl_src}"))


__all__ = ["train", "lr_at", "new_run_dir", "write_run_configs", "find_run"]
