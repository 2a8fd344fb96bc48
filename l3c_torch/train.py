#!/usr/bin/env python
"""Train L3C (upstream ``src/train.py``): ``train.py MS_CONFIG DL_CONFIG LOG_DIR [-p key=value ...]
[--restore ID [--restore_continue | --restore_restart]]``.

Writes ``LOG_DIR/MMDD_HHMM <ms> <dl> [k=v ...]/`` with the resolved configs, TensorBoard events and
``ckpts/ckpt_{itr:010d}.pt``. Upstream trains forever; ``--max_steps`` / ``--max_minutes`` (not upstream)
stop it. Ctrl-C saves a checkpoint; ``--restore ID --restore_continue`` resumes in the same directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ms_config_p")
    p.add_argument("dl_config_p")
    p.add_argument("log_dir_root")
    p.add_argument("-t", "--temporary", action="store_true", help="log into LOG_DIR/_TMP")
    p.add_argument("-ltrain", "--log_train", type=int, default=100)
    p.add_argument("-ltrainh", "--log_train_heavy", type=int, default=5)
    p.add_argument("-lval", "--log_val", type=int, default=500)
    p.add_argument("-p", "--global_config", action="append", default=[], help="key=value config overrides")
    p.add_argument("--restore", help="run directory or MMDD_HHMM id under LOG_DIR")
    p.add_argument("--restore_continue", action="store_true", help="keep logging into the restored run")
    p.add_argument("--restore_restart", action="store_true", help="restored weights, iteration 0, new optim")
    p.add_argument("-i", "--restore_itr", type=int, default=-1)
    p.add_argument("--restore_strict", choices=["y", "n"], default="y")
    p.add_argument("-W", "--num_workers", type=int, default=0, help="data-loader workers (upstream 8)")
    p.add_argument("-si", "--saver_interval", type=int, default=250)
    p.add_argument("-sk", "--saver_keep_every", type=int, default=10)
    p.add_argument("-skt", "--saver_keep_tmp", type=int, default=3)
    p.add_argument("--no_saver", action="store_true")
    p.add_argument("--debug", action="store_true", help="tiny run: 5 steps, logging every step")
    p.add_argument("--max_steps", type=int, default=None, help="(not upstream) stop after N iterations")
    p.add_argument("--max_minutes", type=float, default=None, help="(not upstream) stop after M minutes")
    p.add_argument("--threads", type=int, default=None,
                   help="(not upstream) CPU threads (default: $LIC_THREADS, else min(2, cores); shared_data.threads)")
    p.add_argument("--cache_images", action="store_true",
                   help="(not upstream) keep the decoded training images in memory (same crops, faster on CPU)")
    p.add_argument("--bf16", action="store_true",
                   help="(not upstream) bfloat16 autocast for forward + loss; weights and checkpoints stay float32")
    a = p.parse_args(argv)

    from l3c.config import Config, apply_overrides, parse_cf  # no torch import: config errors come fast

    ms_path, dl_path, root = Path(a.ms_config_p), Path(a.dl_config_p), Path(a.log_dir_root)
    ms_flat, dl_flat = parse_cf(ms_path), parse_cf(dl_path)
    applied = apply_overrides(ms_flat, a.global_config, dl_flat)  # unknown keys: ValueError('Unused params')

    import torch
    from l3c.model_io import find_run
    from l3c.train_loop import new_run_dir, train, write_run_configs

    from shared_data import ddp, threads

    threads.limit(a.threads)
    restore = None
    if a.restore:
        src = Path(a.restore) if Path(a.restore).is_dir() else find_run(root, a.restore)
        restore = (src, a.restore_itr)
    ctx = ddp.setup("cuda" if torch.cuda.is_available() else "cpu")  # under torchrun: one run directory,
    run_dir = None                                                     # chosen by rank 0
    if ctx.main:
        if restore and a.restore_continue:
            run_dir = restore[0]
        else:
            run_dir = new_run_dir(root, ms_path, dl_path, applied, a.temporary)
        write_run_configs(run_dir, ms_flat, dl_flat, ms_path, dl_path)
        print(f"run directory: {run_dir}", flush=True)
    run_dir = Path(ddp.broadcast(str(run_dir) if run_dir else None, ctx))
    if a.debug:
        a.max_steps, a.log_train, a.log_val = 5, 1, 5
    res = train(Config(ms_flat), Config(dl_flat), run_dir, restore=restore, restart=a.restore_restart,
                log_train=a.log_train, log_train_heavy=a.log_train_heavy, log_val=a.log_val,
                save_every=a.saver_interval, keep_every=a.saver_keep_every, keep_tmp=a.saver_keep_tmp,
                no_saver=a.no_saver, workers=a.num_workers, max_steps=a.max_steps, max_minutes=a.max_minutes,
                cache_images=a.cache_images, bf16=a.bf16)
    if ctx.main:
        print(f"done: itr {res['itr']}, val bpsp {res.get('val_bpsp', float('nan')):.4f}, {res['wall_s']:.0f} s"
              + (f", {res['world_size']} DDP processes" if ctx.enabled else ""))
    ddp.cleanup(ctx)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError, NotImplementedError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(1)
