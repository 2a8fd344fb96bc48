"""Training (upstream ``train/multiscale_trainer.py`` + ``trainer.py``): RMSprop, exponential LR schedule,
loss = sum of bpsp over the predicted levels (L3C eq. (7)), TensorBoard, checkpoints, resume."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from .config import Config, dump_cf
from .data import CropDataset, resolve_glob
from .model_io import find_run, list_ckpts, save_ckpt, upgrade_state_dict
from .network import MultiscaleNetwork, bpsp_from_nlls, loss_from_nlls


def lr_at(schedule: str, initial: float, itr: int, epoch_len: int) -> float:
    """``exp_F_iN`` / ``exp_F_eN``: ``initial * F ** floor(itr / N)`` with N in iterations or epochs.
    ``none`` keeps the rate. Warm-up and cosine schedules of upstream's grammar are not implemented."""
    if schedule in ("none", None):
        return initial
    m = re.fullmatch(r"exp_([0-9.eE-]+)_([ie])(\d+)", schedule)
    if not m:
        raise NotImplementedError(f"lr.schedule {schedule!r}: only 'exp_F_iN', 'exp_F_eN' and 'none' are "
                                  "implemented (upstream also had _warm_ and cos_ variants)")
    f, unit, n = float(m.group(1)), m.group(2), int(m.group(3))
    period = n * (epoch_len if unit == "e" else 1)
    return initial * f ** (itr // max(period, 1))


def _make_optim(cfg: Config, net):
    if cfg.optim != "RMSprop":
        raise NotImplementedError(f"optim {cfg.optim!r}: only RMSprop (the paper's) is implemented")
    # PyTorch defaults (alpha 0.99, eps 1e-8, no momentum), no gradient clipping, as upstream.
    return torch.optim.RMSprop(net.parameters(), lr=cfg.lr.initial, weight_decay=cfg.weight_decay)


def train(ms_cfg: Config, dl_cfg: Config, run_dir: Path, *, restore: tuple[Path, int] | None = None,
          restart: bool = False, log_train=100, log_train_heavy=5, log_val=500, save_every=250,
          keep_every=10, keep_tmp=3, no_saver=False, workers=0, max_steps=None, max_minutes=None,
          seed=0, quiet=False, device=None) -> dict:
    """Train until ``max_steps``/``max_minutes`` (upstream trains forever: ``max_epochs=None``)."""
    torch.manual_seed(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as upstream
    net = MultiscaleNetwork(ms_cfg).to(device)
    optim = _make_optim(ms_cfg, net)
    itr = 0
    if restore is not None:
        src, ritr = restore
        ck = dict(list_ckpts(src))
        if not ck:
            raise FileNotFoundError(f"{src}: no checkpoints to restore")
        ritr = max(ck) if ritr == -1 else ritr
        state = torch.load(ck[ritr], map_location=device, weights_only=True)
        upgraded = upgrade_state_dict(state["net"])
        net.load_state_dict(upgraded)
        if not restart:
            itr = ritr
            # an old-layout checkpoint's optimizer state is ordered differently: start the optimizer afresh
            if "optim" in state and upgraded is state["net"]:
                optim.load_state_dict(state["optim"])
        if not quiet:
            print(f"restored {ck[ritr]} ({'restart at 0' if restart else f'continue at {itr}'})")
    files = resolve_glob(str(dl_cfg.train_imgs_glob))
    if not files:
        raise FileNotFoundError(f"no training images for train_imgs_glob={dl_cfg.train_imgs_glob!r}")
    ds = CropDataset(files, dl_cfg.crop_size, train=True)
    val_files = resolve_glob(str(dl_cfg.val_glob))
    val_ds = CropDataset(val_files[: dl_cfg.num_val_batches * dl_cfg.batchsize_val], dl_cfg.crop_size,
                         train=False)
    dl = torch.utils.data.DataLoader(ds, batch_size=dl_cfg.batchsize_train, shuffle=True, drop_last=True,
                                     num_workers=workers)
    epoch_len = max(1, len(dl))
    writer = SummaryWriter(str(run_dir))
    t_start, last = time.time(), {}
    max_steps = math.inf if max_steps is None else max_steps
    bar = tqdm(total=None if math.isinf(max_steps) else max_steps, initial=itr, disable=quiet,
               desc="train", dynamic_ncols=True)

    def validate():
        net.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for b in torch.utils.data.DataLoader(val_ds, batch_size=dl_cfg.batchsize_val):
                b = b.to(device)
                nlls, encs = net(b)
                bpsps = bpsp_from_nlls(nlls, b.numel())
                tot += (sum(bpsps) + net.uniform_bits(encs) / b.numel()) * b.shape[0]
                n += b.shape[0]
        net.train()
        return tot / max(n, 1)

    def save(final=False):
        if no_saver:
            return
        save_ckpt(run_dir, itr, net, optim)
        # keep every keep_every-th save; of the others only the last keep_tmp
        tmp = [(i, p) for i, p in list_ckpts(run_dir) if (i // max(save_every, 1)) % keep_every != 0]
        for _, p in tmp[:-keep_tmp]:
            p.unlink(missing_ok=True)

    net.train()
    stop = False
    try:
        while not stop:
            for batch in dl:
                batch = batch.to(device, non_blocking=True)
                lr = lr_at(ms_cfg.lr.schedule, ms_cfg.lr.initial, itr, epoch_len)
                for g in optim.param_groups:
                    g["lr"] = lr
                optim.zero_grad()
                nlls, encs = net(batch)
                loss = loss_from_nlls(nlls, batch.numel())
                loss.backward()
                optim.step()
                itr += 1
                bar.update(1)
                if itr % log_train == 0 or itr == 1:
                    bpsps = bpsp_from_nlls([n.detach() for n in nlls], batch.numel())
                    writer.add_scalar("train/loss", float(loss.detach()), itr)
                    writer.add_scalar("train/lr", lr, itr)
                    for i, b in enumerate(bpsps):
                        writer.add_scalar(f"train/bpsp_{i}", b, itr)
                    writer.add_scalar("train/bpsp_total", sum(bpsps) + net.uniform_bits(encs) / batch.numel(),
                                      itr)
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.1e}")
                    last = {"itr": itr, "loss": float(loss.detach()), "bpsp_levels": bpsps}
                if log_train_heavy and itr % (log_train * log_train_heavy) == 0:
                    for n_, p in net.named_parameters():
                        if p.requires_grad:
                            writer.add_histogram(f"weights/{n_}", p.detach(), itr)
                if log_val and itr % log_val == 0:
                    v = validate()
                    writer.add_scalar("val/bpsp", v, itr)
                    last["val_bpsp"] = v
                if save_every and itr % save_every == 0:
                    save()
                if itr >= max_steps or (max_minutes and time.time() - t_start > 60 * max_minutes):
                    stop = True
                    break
    except KeyboardInterrupt:
        print("interrupted; saving", flush=True)
    finally:
        bar.close()
        writer.flush()
    # reached only after a normal stop or Ctrl-C: a crash must not overwrite the last good checkpoint
    last["val_bpsp"] = validate()
    writer.add_scalar("val/bpsp", last["val_bpsp"], itr)
    writer.close()
    save(final=True)
    last.update(itr=itr, wall_s=time.time() - t_start)
    return last


def new_run_dir(log_dir_root: Path, ms_path: Path, dl_path: Path, overrides: list[str], temporary=False):
    """``LOG_DIR/MMDD_HHMM <ms> <dl> [k=v ...]`` (upstream naming; ``-t`` puts it under ``_TMP``)."""
    stamp = time.strftime("%m%d_%H%M")
    name = " ".join([stamp, ms_path.stem, dl_path.stem, *overrides])
    root = log_dir_root / "_TMP" if temporary else log_dir_root
    d = root / name
    k = 1
    while d.exists():  # two runs in the same minute
        d = root / f"{name}_{k}"
        k += 1
    return d


def write_run_configs(run_dir: Path, ms_flat: dict, dl_flat: dict, ms_src: Path, dl_src: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config_ms.cf").write_text(f"# resolved from {ms_src}\n" + dump_cf(ms_flat))
    (run_dir / "config_dl.cf").write_text(f"# resolved from {dl_src}\n" + dump_cf(dl_flat))


__all__ = ["train", "lr_at", "new_run_dir", "write_run_configs", "find_run"]
