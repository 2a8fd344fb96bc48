"""Two-stage HiFiC training (paper Sec. 4 / App. A.1; TF ``train.py``; the port's ``train.py``).

Stage ``compression``: E, G, hyperprior with rate + k_M MSE + k_P LPIPS (TF config ``mselpips``).
Stage ``compression_gan``: warm-started from stage 1 (E/G/hyperprior only; D from scratch, step restarts
at 0 so every schedule reruns, as TF does), adds the latent-conditioned D and the beta GAN term.
Optimizers: Adam for the transforms, Adam for the hyper-latent density, Adam for its quantiles (aux loss),
Adam for D -- all lr 1e-4, x0.1 after ``lr_decay_step``, stepped every iteration. Checkpoints hold every
optimizer, the step and both configs, so ``--resume`` continues exactly. TensorBoard scalars and images.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .config import ModelConfig, TrainConfig
from .data import CropDataset, infinite_batches
from .losses import compression_loss, discriminator_loss, generator_gan_loss
from .model import HiFiC, load_checkpoint, load_codec_weights, save_checkpoint
from .network import Discriminator


def _param_groups(model: HiFiC):
    density = [p for n, p in model.hyper_density.named_parameters() if n != "quantiles"]
    ids = {id(p) for p in model.hyper_density.parameters()}
    amort = [p for p in model.parameters() if id(p) not in ids]
    return amort, density, [model.hyper_density.quantiles]


def train(model_type: str, model_cfg: ModelConfig, train_cfg: TrainConfig, out_dir: str | os.PathLike,
          data_dir: str | os.PathLike, warmstart_ckpt: str | None = None, resume: str | None = None,
          lpips_fn=None, log_intv: int = 100, save_intv: int = 1000, seed: int = 0, device: str = "cpu",
          progress: bool = True, time_budget_s: float = 0.0, cache_images: bool = False) -> Path:
    """Train one stage; return the path of the final checkpoint (with coding tables built).

    ``time_budget_s`` > 0 stops early (after the step that crosses it) and still writes the final checkpoint;
    the step reached is recorded in it (for CPU mini runs on a shared machine)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise NotImplementedError("multi-process (torchrun/DDP) training is not implemented in this port yet")
    if model_type not in ("compression", "compression_gan"):
        raise ValueError(f"model_type must be compression or compression_gan, got {model_type!r}")
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    gan = model_type == "compression_gan"

    step = 0
    model = HiFiC(model_cfg).to(device)
    disc = Discriminator(model_cfg).to(device) if gan else None
    amort, density, quantiles = _param_groups(model)
    opts = {"amort": torch.optim.Adam(amort, lr=train_cfg.learning_rate),
            "hyperlatent_likelihood": torch.optim.Adam(density, lr=train_cfg.learning_rate),
            "aux": torch.optim.Adam(quantiles, lr=train_cfg.learning_rate)}
    if gan:
        opts["disc"] = torch.optim.Adam(disc.parameters(), lr=train_cfg.learning_rate)

    if resume:
        model_r, ck = load_checkpoint(resume, need_tables=False)
        load_codec_weights(model, model_r.state_dict())
        step = int(ck["step"])
        if ck.get("model_type") != model_type:
            raise ValueError(f"{resume} is a {ck.get('model_type')} checkpoint, not {model_type}")
        if gan:
            disc.load_state_dict(ck["discriminator"])
        for k, o in opts.items():
            o.load_state_dict(ck["optimizers"][k])
    elif warmstart_ckpt:
        model_w, _ = load_checkpoint(warmstart_ckpt, need_tables=False)
        if model_w.cfg != model_cfg:
            raise ValueError(f"--warmstart checkpoint has config {model_w.cfg}, not {model_cfg}")
        load_codec_weights(model, model_w.state_dict())
    elif gan:
        print("warning: training the GAN stage from scratch; the paper warm-starts it (--warmstart --ckpt)")

    (out_dir / "config.json").write_text(json.dumps(
        {"model_type": model_type, "model": model_cfg.to_dict(), "train": {**vars(train_cfg)},
         "warmstart": warmstart_ckpt, "resume": resume, "seed": seed}, indent=2, default=str))

    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(str(out_dir / "tensorboard"))
    data = CropDataset(data_dir, train_cfg.crop_size, seed=seed + step, cache=cache_images)
    loader = torch.utils.data.DataLoader(data, batch_size=train_cfg.batch_size, shuffle=True, drop_last=True,
                                         num_workers=0)
    if len(data) < train_cfg.batch_size:
        raise ValueError(f"{data_dir}: {len(data)} images, fewer than the batch size {train_cfg.batch_size}")
    batches = infinite_batches(loader)
    model.train()
    t0 = time.time()
    bar = tqdm(total=train_cfg.n_steps, initial=step, desc=model_type, disable=not progress, dynamic_ncols=True)

    def save(path, final=False):
        extra = {"model_type": model_type, "step": step, "optimizers": {k: o.state_dict() for k, o in opts.items()},
                 "train_config": {k: v for k, v in vars(train_cfg).items() if k != "extra"}}
        if gan:
            extra["discriminator"] = disc.state_dict()
        save_checkpoint(path, model, extra)

    while step < train_cfg.n_steps:
        sched = train_cfg.scheduled(step)
        for o in opts.values():
            for g in o.param_groups:
                g["lr"] = sched["lr"]
        x = next(batches).to(device)
        out = model(x)
        loss, logs = compression_loss(out, x, sched, train_cfg.k_M, train_cfg.k_P, lpips_fn)
        if gan:
            # D step on this batch (fake detached), then the G step through the updated D.
            d_loss = discriminator_loss(disc(x, out.y_hat), disc(out.x_hat.detach(), out.y_hat))
            opts["disc"].zero_grad(set_to_none=True)
            d_loss.backward()
            opts["disc"].step()
            g_gan = generator_gan_loss(disc(out.x_hat, out.y_hat))
            loss = loss + train_cfg.beta * g_gan
            logs.update({"gan/d_loss": float(d_loss.detach()), "gan/g_loss": float(g_gan.detach())})
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"non-finite loss at step {step}: {logs}")
        opts["amort"].zero_grad(set_to_none=True)
        opts["hyperlatent_likelihood"].zero_grad(set_to_none=True)
        loss.backward()
        if train_cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        opts["amort"].step()
        opts["hyperlatent_likelihood"].step()
        aux = model.aux_loss()
        opts["aux"].zero_grad(set_to_none=True)
        aux.backward()
        opts["aux"].step()
        step += 1
        bar.update(1)
        if step % log_intv == 0 or step == train_cfg.n_steps:
            logs.update({"aux_loss": float(aux.detach()), "lr": sched["lr"], "target_rate": sched["target_rate"]})
            for k, v in logs.items():
                writer.add_scalar(k, v, step)
            bar.set_postfix(bpp=f"{logs['rate/q_bpp']:.3f}", mse=f"{logs['distortion/mse255']:.1f}")
        if step % save_intv == 0 or step == train_cfg.n_steps:
            writer.add_images("reconstruction", out.x_hat[:2].detach().clamp(0, 1), step)
            writer.add_images("original", x[:2], step)
            save(out_dir / "checkpoints" / "last.pt")
        if time_budget_s and time.time() - t0 > time_budget_s and step < train_cfg.n_steps:
            print(f"time budget of {time_budget_s:.0f} s reached at step {step}; stopping")
            break
    bar.close()
    model.eval()
    model.update()
    final = out_dir / "checkpoints" / "final.pt"
    save(final, final=True)
    writer.add_text("wall_time_s", f"{time.time() - t0:.1f}", step)
    writer.close()
    return final
