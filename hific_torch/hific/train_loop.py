"""Two-stage HiFiC training (paper Sec. 4 / App. A.1; TF ``train.py``; the port's ``train.py``).

Stage ``compression``: E, G, hyperprior with rate + k_M MSE + k_P LPIPS (TF config ``mselpips``).
Stage ``compression_gan``: warm-started from stage 1 (E/G/hyperprior only; D from scratch, step restarts
at 0 so every schedule reruns, as TF does), adds the latent-conditioned D and the beta GAN term.
Optimizers: Adam for the transforms, Adam for the hyper-latent density, Adam for its quantiles (aux loss),
Adam for D -- all lr 1e-4, x0.1 after ``lr_decay_step``, stepped every iteration. Checkpoints hold every
optimizer, the step and both configs, so ``--resume`` continues exactly. TensorBoard scalars and images.

Multi-process (``torchrun --nproc_per_node P train.py ...``): DistributedDataParallel over E/G/hyperprior and
D (NCCL on GPUs, gloo on CPU), a DistributedSampler (each rank its own crops), the batch size is the *global*
batch (each rank takes bs / P), the quantised rate that picks lambda' is averaged over ranks (TF compares the
batch mean), the aux-loss quantile gradients are averaged by hand (they are outside the DDP forward), and
rank 0 alone logs, shows progress and writes checkpoints. At the end every rank checks that its weights equal
rank 0's (recorded in the checkpoint under ``ddp``).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from shared_data.ddp import check_batch
from shared_data.ddp import cleanup as ddp_cleanup
from shared_data.ddp import setup as ddp_setup
from shared_data.ddp import wrap as ddp_wrap
from shared_data.errors import ConfigError, DatasetError, ModelError

from .checkpoints import load_checkpoint, load_codec_weights, save_checkpoint
from .config import ModelConfig, TrainConfig
from .data import CropDataset, infinite_batches
from .losses import compression_loss, discriminator_loss, generator_gan_loss
from .model import HiFiC
from .network import make_discriminator


def _param_groups(model: HiFiC):
    density = [p for n, p in model.hyper_density.named_parameters() if n != "quantiles"]
    ids = {id(p) for p in model.hyper_density.parameters()}
    amort = [p for p in model.parameters() if id(p) not in ids]
    return amort, density, [model.hyper_density.quantiles]


def train(model_type: str, model_cfg: ModelConfig, train_cfg: TrainConfig, out_dir: str | os.PathLike,
          data_dir: str | os.PathLike, warmstart_ckpt: str | None = None, resume: str | None = None,
          lpips_fn=None, log_intv: int = 100, save_intv: int = 1000, seed: int = 0, device: str = "cpu",
          progress: bool = True, time_budget_s: float = 0.0, cache_images: bool = False, bf16: bool = False) -> Path:
    """Train one stage; return the path of the final checkpoint (with coding tables built).

    ``bf16`` (not in the port): forward passes and losses under ``torch.autocast(dtype=bfloat16)``; the rate
    terms, the rounding and x_hat stay float32 (``model._f32``), parameters, optimizers and checkpoints float32.

    ``time_budget_s`` > 0 stops early (after the step that crosses it) and still writes the final checkpoint;
    the step reached is recorded in it (for CPU mini runs on a shared machine)."""
    if model_type not in ("compression", "compression_gan"):
        raise ConfigError(f"model_type must be compression or compression_gan, got {model_type!r}")
    ctx = ddp_setup(device)  # torchrun: the process group (NCCL on CUDA, Gloo on CPU), cuda:<LOCAL_RANK>
    ddp, world, rank, main_proc = ctx.enabled, ctx.world, ctx.rank, ctx.main
    local_bs = check_batch(train_cfg.batch_size, ctx)
    device = str(ctx.device)
    if ddp:
        import torch.distributed as dist
    torch.manual_seed(seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    out_dir = Path(out_dir)
    if main_proc:
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    gan = model_type == "compression_gan"

    step = 0
    model = HiFiC(model_cfg).to(device)
    disc = make_discriminator(model_cfg).to(device) if gan else None
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
            raise ModelError(f"{resume} is a {ck.get('model_type')} checkpoint, not {model_type}")
        if gan:
            disc.load_state_dict(ck["discriminator"])
        for k, o in opts.items():
            o.load_state_dict(ck["optimizers"][k])
    elif warmstart_ckpt:
        model_w, _ = load_checkpoint(warmstart_ckpt, need_tables=False)
        if model_w.cfg != model_cfg:
            raise ModelError(f"{warmstart_ckpt}: the --warmstart checkpoint has config {model_w.cfg}, not {model_cfg}")
        load_codec_weights(model, model_w.state_dict())
    elif gan:
        print("warning: training the GAN stage from scratch; the paper warm-starts it (--warmstart --ckpt)")

    if main_proc:
        (out_dir / "config.json").write_text(json.dumps(
            {"model_type": model_type, "model": model_cfg.to_dict(), "train": {**vars(train_cfg)},
             "warmstart": warmstart_ckpt, "resume": resume, "seed": seed, "world_size": world},
            indent=2, default=str))

    writer = None
    if main_proc:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out_dir / "tensorboard"))
    if cache_images:
        # private loader with an in-memory decode cache (the MINI CPU runs: PNG decoding was ~60 % of a step;
        # the shared reader has no cache). Same transform family: rescale U(0.75, 0.95), crop, flip.
        data = CropDataset(data_dir, train_cfg.crop_size, seed=seed + step + 1_000_003 * rank, cache=True)
        if len(data) < train_cfg.batch_size:
            raise DatasetError(f"{data_dir}: {len(data)} images, fewer than the batch size {train_cfg.batch_size}")
        if ddp:
            sampler = torch.utils.data.distributed.DistributedSampler(data, shuffle=True, seed=seed, drop_last=True)
            loader = torch.utils.data.DataLoader(data, batch_size=local_bs, sampler=sampler, drop_last=True,
                                                 num_workers=0)
            batches = infinite_batches(loader, sampler, first_epoch=step)
        else:
            loader = torch.utils.data.DataLoader(data, batch_size=local_bs, shuffle=True, drop_last=True,
                                                 num_workers=0)
            batches = infinite_batches(loader)
    else:
        # the shared reader (shared_data.readers.torch_data), preset "hific-jt": the port's random rescale in
        # [0.75, 0.95] (short side kept >= crop), random crop, random flip; values in [0, 1]; a
        # DistributedSampler under torchrun; crops depend on (seed, epoch, index).
        from shared_data.readers import ReaderError
        from shared_data.readers.torch_data import ImageDataset
        from shared_data.readers.torch_data import batches as reader_batches
        try:
            data = ImageDataset(str(data_dir), preset="hific-jt", crop=train_cfg.crop_size, seed=seed)
        except (ReaderError, FileNotFoundError) as e:
            raise DatasetError(f"training data: {e}") from None
        if len(data) < train_cfg.batch_size:
            raise DatasetError(f"{data_dir}: {len(data)} images, fewer than the batch size {train_cfg.batch_size}")
        batches = reader_batches(data, local_bs, seed=seed, start_epoch=step, distributed=ddp)
    model.train()
    fwd, dfwd = model, disc
    # the quantiles get no gradient in the forward (aux loss, below): find_unused_parameters
    fwd = ddp_wrap(model, ctx, find_unused_parameters=True)
    if gan:
        dfwd = ddp_wrap(disc, ctx)
    t0 = time.time()
    bar = tqdm(total=train_cfg.n_steps, initial=step, desc=model_type, disable=not (progress and main_proc),
               dynamic_ncols=True)

    def save(path, final=False, extra_info=None):
        if not main_proc:
            return
        extra = {"model_type": model_type, "step": step, "optimizers": {k: o.state_dict() for k, o in opts.items()},
                 "train_config": {k: v for k, v in vars(train_cfg).items() if k != "extra"}, **(extra_info or {})}
        if gan:
            extra["discriminator"] = disc.state_dict()
        save_checkpoint(path, model, extra)

    while step < train_cfg.n_steps:
        sched = train_cfg.scheduled(step)
        for o in opts.values():
            for g in o.param_groups:
                g["lr"] = sched["lr"]
        x = next(batches).to(device)
        amp = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16)
        with amp:
            out = fwd(x)
        if ddp:  # lambda' is chosen from the global batch's quantised rate, identically on every rank
            q = out.q_bpp.detach().reshape(1).clone()
            dist.all_reduce(q)
            out.q_bpp = q[0] / world
        with amp:
            loss, logs = compression_loss(out, x, sched, train_cfg.k_M, train_cfg.k_P, lpips_fn)
        if gan:
            # D step on this batch (fake detached), then the G step through the updated D.
            with amp:
                if ddp:  # one D call per backward under DDP: real and fake halves together (as the port does)
                    logits = dfwd(torch.cat([x, out.x_hat.detach()]), torch.cat([out.y_hat, out.y_hat])).float()
                    d_loss = discriminator_loss(*logits.chunk(2))
                else:
                    d_loss = discriminator_loss(dfwd(x, out.y_hat).float(), dfwd(out.x_hat.detach(), out.y_hat).float())
            opts["disc"].zero_grad(set_to_none=True)
            d_loss.backward()
            opts["disc"].step()
            with amp:
                g_gan = generator_gan_loss(dfwd(out.x_hat, out.y_hat).float())
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
        if ddp:
            dist.all_reduce(model.hyper_density.quantiles.grad)
            model.hyper_density.quantiles.grad /= world
        opts["aux"].step()
        step += 1
        bar.update(1)
        if main_proc and (step % log_intv == 0 or step == train_cfg.n_steps):
            logs.update({"aux_loss": float(aux.detach()), "lr": sched["lr"], "target_rate": sched["target_rate"]})
            for k, v in logs.items():
                writer.add_scalar(k, v, step)
            bar.set_postfix(bpp=f"{logs['rate/q_bpp']:.3f}", mse=f"{logs['distortion/mse255']:.1f}")
        if main_proc and (step % save_intv == 0 or step == train_cfg.n_steps):
            writer.add_images("reconstruction", out.x_hat[:2].detach().clamp(0, 1), step)
            writer.add_images("original", x[:2], step)
            save(out_dir / "checkpoints" / "last.pt")
        if time_budget_s and step < train_cfg.n_steps:
            stop = torch.tensor([float(time.time() - t0 > time_budget_s)])
            if ddp:  # every rank stops at the same step (rank 0's clock decides)
                dist.broadcast(stop, 0)
            if stop.item():
                if main_proc:
                    print(f"time budget of {time_budget_s:.0f} s reached at step {step}; stopping")
                break
    bar.close()
    model.eval()
    model.update()
    final = out_dir / "checkpoints" / "final.pt"
    extra_info = None
    if ddp:  # every replica must hold rank 0's weights after the same updates
        flat = torch.cat([p.detach().reshape(-1).cpu().double() for p in model.parameters()])
        mine = torch.tensor([float(flat.sum()), float((flat * flat).sum())], dtype=torch.float64)
        ref = mine.clone()
        dist.broadcast(ref, 0)
        same = torch.tensor([float(torch.equal(mine, ref))])
        dist.all_reduce(same, op=dist.ReduceOp.MIN)
        extra_info = {"ddp": {"world_size": world, "backend": dist.get_backend(),
                              "replicas_identical": bool(same.item())}}
    save(final, final=True, extra_info=extra_info)
    if writer is not None:
        writer.add_text("wall_time_s", f"{time.time() - t0:.1f}", step)
        writer.close()
    if ddp:
        dist.barrier()
    ddp_cleanup(ctx)
    return final
