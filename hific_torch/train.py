"""Train HiFiC (flags follow the PyTorch port's train.py; see README).

  python train.py -mt compression -regime low -n my_run -steps 1000000              # stage 1 (MSE+LPIPS+rate)
  python train.py -mt compression_gan -regime low -warmstart -ckpt RUN/checkpoints/final.pt   # stage 2
  python train.py ... --resume RUN/checkpoints/last.pt                               # continue a run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from hific.config import MINI, ModelConfig, TrainConfig

from shared_data import ddp, paths, threads
from shared_data.errors import LicError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-mt", "--model_type", required=True, choices=["compression", "compression_gan"])
    p.add_argument("-regime", "--regime", default="low", choices=["low", "med", "high"])
    p.add_argument("-n", "--name", default="hific")
    p.add_argument("-o", "--out", default="experiments", help="runs go to OUT/<name>_<type>_<time>")
    p.add_argument("-steps", "--n_steps", type=int, default=1_000_000)
    p.add_argument("-bs", "--batch_size", type=int, default=8)
    p.add_argument("-crop", "--crop_size", type=int, default=256)
    p.add_argument("-lr", "--learning_rate", type=float, default=1e-4)
    p.add_argument("-lc", "--latent_channels", type=int, default=220)
    p.add_argument("-nrb", "--n_residual_blocks", type=int, default=9)
    p.add_argument("-norm", "--normalize_input_image", action="store_true", help="[-1,1] input, tanh output")
    p.add_argument("-lt", "--likelihood_type", default="gaussian", choices=["gaussian", "logistic"])
    p.add_argument("-LMM", "--use_latent_mixture_model", action="store_true",
                   help="the port's discretized logistic mixture latent model (K=4; C=64 as the port forces, "
                        "except with --mini); component CDF per -lt")
    p.add_argument("-warmstart", "--warmstart", action="store_true")
    p.add_argument("-ckpt", "--ckpt", default=None, help="checkpoint to warm-start from")
    p.add_argument("--resume", default=None, help="continue a run from its checkpoints/last.pt")
    p.add_argument("-log_intv", "--log_intv", type=int, default=1000)
    p.add_argument("-save_intv", "--save_intv", type=int, default=50000)
    p.add_argument("--data_dir", default=None, help="training images (default $TRAIN_DIR)")
    p.add_argument("--mini", action="store_true", help="the reduced-width MINI config (zoo/mini)")
    p.add_argument("--schedule_step", type=int, default=50_000)
    p.add_argument("--lr_decay_step", type=int, default=500_000)
    p.add_argument("--lpips", default="alex", choices=["alex", "off", "rand"],
                   help="alex: real LPIPS (needs local AlexNet weights); off: k_P term dropped; rand: tests")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time_budget_min", type=float, default=0.0, help="stop after this many minutes (0: off)")
    p.add_argument("--cache_images", action="store_true", help="keep decoded training images in memory")
    p.add_argument("-gpu", "--gpu", action="store_true", help="train on CUDA if available")
    p.add_argument("--bf16", action="store_true",
                   help="(not in the port) bfloat16 autocast for forward + losses; rates, rounding, weights and "
                        "checkpoints stay float32")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.warmstart and not args.ckpt:
        print("error: -warmstart needs -ckpt PATH", file=sys.stderr)
        return 2
    threads.limit(args.threads)
    lmm = {"use_latent_mixture_model": True} if args.use_latent_mixture_model else {}
    if args.mini:
        cfg = ModelConfig.from_dict({**MINI.to_dict(), "likelihood_type": args.likelihood_type,
                                     "normalize_input_image": args.normalize_input_image, **lmm})
    else:
        latent = 64 if lmm else args.latent_channels  # the port: latent_channels = latent_channels_DLMM = 64
        cfg = ModelConfig(latent_channels=latent, n_residual_blocks=args.n_residual_blocks,
                          normalize_input_image=args.normalize_input_image, likelihood_type=args.likelihood_type,
                          **lmm)
    tcfg = TrainConfig(regime=args.regime, batch_size=args.batch_size, crop_size=args.crop_size,
                       learning_rate=args.learning_rate, n_steps=args.n_steps, schedule_step=args.schedule_step,
                       lr_decay_step=args.lr_decay_step)
    lpips_fn = None
    if args.lpips != "off":
        from hific.perceptual import LPIPS, LPIPSWeightsMissing
        try:
            lpips_fn = LPIPS(pnet_rand=args.lpips == "rand")
        except LPIPSWeightsMissing as e:
            print(f"error: {e}\n(use --lpips off to train without the k_P term)", file=sys.stderr)
            return 2
    else:
        tcfg.k_P = 0.0
    device = "cuda" if args.gpu and torch.cuda.is_available() else "cpu"
    ctx = ddp.setup(device)  # torchrun (WORLD_SIZE > 1): join the group; CUDA becomes cuda:<LOCAL_RANK>
    if lpips_fn is not None:
        lpips_fn = lpips_fn.to(ctx.device)
    if args.resume:
        out = Path(args.resume).resolve().parent.parent
    else:
        out = Path(args.out) / f"{args.name}_{args.model_type}_{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(ddp.broadcast(str(out), ctx))  # every rank uses rank 0's run folder
    from hific.train_loop import train
    try:
        final = train(args.model_type, cfg, tcfg, out, args.data_dir or paths.train_dir(),
                      warmstart_ckpt=args.ckpt if args.warmstart else None, resume=args.resume, lpips_fn=lpips_fn,
                      log_intv=args.log_intv, save_intv=args.save_intv, seed=args.seed, device=device,
                      time_budget_s=60 * args.time_budget_min, cache_images=args.cache_images, bf16=args.bf16)
    except LicError as e:  # --resume / -ckpt refused, no training images ...: one line naming the file
        print(f"error: {e}", file=sys.stderr)
        return 2
    if ctx.main:
        print(f"final checkpoint (with coding tables): {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
