"""HiFiC training speed on this CPU (issue 19; not upstream): ``zoo.py speed RECIPE [--steps N] [--cases ...]``
times the recipe's training step per case (float32, threads, bf16 autocast, channels_last, the GAN step);
results in ``zoo/cpu/TRAINING.md``."""

from __future__ import annotations

import time

import numpy as np
from zoo import ZooError, model_config, recipe

#: ``zoo.py speed`` cases: overrides of the baseline (the cpu recipe: stage 1, batch 8, 128² crops, 1 thread,
#: float32). ``gan``: a GAN-stage step (D step + G step through D).
SPEED_CASES = {
    "base": {},
    "threads2": {"threads": 2},
    "bf16": {"bf16": True},
    "channels_last": {"channels_last": True},
    "bf16_channels_last": {"bf16": True, "channels_last": True},
    "bf16_threads2": {"bf16": True, "threads": 2},
    "gan": {"gan": True},
    "gan_bf16": {"gan": True, "bf16": True},
}


def _speed_case(r: dict, batches: list, *, threads: int, bf16=False, channels_last=False, gan=False,
                steps=20, warmup=3) -> dict:
    """Seconds per training step (forward, losses, backward, the Adam steps; data excluded: ``batches`` are
    decoded crops) of the recipe's model, as :func:`hific.train_loop.train` runs it."""
    import torch
    from hific.config import TrainConfig
    from hific.losses import compression_loss, discriminator_loss, generator_gan_loss
    from hific.model import HiFiC
    from hific.network import make_discriminator

    from shared_data import threads as thread_policy

    thread_policy.limit(threads)
    torch.manual_seed(0)
    cfg = model_config(r)
    model = HiFiC(cfg)
    disc = make_discriminator(cfg) if gan else None
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    disc = disc.to(memory_format=fmt) if gan else None
    opt = torch.optim.Adam(model.parameters(), lr=r["lr"])
    dopt = torch.optim.Adam(disc.parameters(), lr=r["lr"]) if gan else None
    tcfg = TrainConfig(regime=r["regime"], batch_size=r["batch"], crop_size=r["crop"], learning_rate=r["lr"])
    sched = tcfg.scheduled(10 ** 6)
    model.train()
    t_step, losses = 0.0, []
    for i in range(warmup + steps):
        x = batches[i % len(batches)].contiguous(memory_format=fmt)
        t0 = time.perf_counter()
        amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
        with amp:
            out = model(x)
            loss, _ = compression_loss(out, x, sched, tcfg.k_M, 0.0, None)
        if gan:
            with amp:
                d_loss = discriminator_loss(disc(x, out.y_hat).float(), disc(out.x_hat.detach(), out.y_hat).float())
            dopt.zero_grad(set_to_none=True)
            d_loss.backward()
            dopt.step()
            with amp:
                loss = loss + tcfg.beta * generator_gan_loss(disc(out.x_hat, out.y_hat).float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            t_step += time.perf_counter() - t0
            losses.append(float(loss.detach()))
    return {"s_per_step": t_step / steps, "steps_per_s": steps / t_step, "loss_mean": float(np.mean(losses))}


def cmd_speed(a) -> int:
    import torch
    from hific.data import CropDataset

    from shared_data import paths

    r = recipe(a.name)
    data = CropDataset(a.train_dir or paths.train_dir(), r["crop"], seed=0, cache=True)
    if len(data) < r["batch"]:
        raise ZooError(f"{a.train_dir or paths.train_dir()}: {len(data)} images, fewer than the batch size")
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data), generator=g)[:4 * r["batch"]].tolist()
    batches = [torch.stack([data[j] for j in idx[k:k + r["batch"]]]) for k in range(0, len(idx), r["batch"])]
    from shared_data.speed import run_cases

    run_cases(SPEED_CASES, a.cases, {"threads": r["threads"]}, lambda kw: _speed_case(r, batches, steps=a.steps, **kw),
              {"recipe": a.name}, a.json, ZooError)
    return 0
