"""Train CPM (the original's ``train.py``): ``python train.py AE_CONFIG PC_CONFIG [flags]``.

Example: ``python train.py ae_configs/cvpr/low pc_configs/cvpr/res_shallow -dtrain imgnet_train -o logs``.
The original trains forever; ``--max_steps`` / ``--max_minutes`` stop it (``--restore LOG_DIR`` resumes).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("autoencoder_config_path")
    p.add_argument("probclass_config_path")
    p.add_argument("--dataset_train", "-dtrain", default="imgnet_train")
    p.add_argument("--dataset_test", "-dtest", default="imgnet_test")
    p.add_argument("--log_dir_root", "-o", default="logs")
    p.add_argument("--log_interval_train", "-ltrain", type=int, default=100)
    p.add_argument("--log_interval_save", "-lsave", type=int, default=1000)
    p.add_argument("--log_interval_test", "-ltest", type=int, default=1000, help="-1 disables testing")
    p.add_argument("--temporary", "-t", action="store_true")
    p.add_argument("--restore", "-r", default=None, help="log dir to resume from (its ckpts/)")
    p.add_argument("--ckpt_interval", type=float, default=1.0, help="keep one checkpoint every N hours")
    p.add_argument("--max_steps", type=int, default=None, help="(new) stop after this many steps")
    p.add_argument("--max_minutes", type=float, default=None, help="(new) stop after this many minutes")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    from cpm.tfsetup import limit_threads
    limit_threads(a.threads)
    from cpm.config import ConfigError
    from cpm.data import DatasetError
    from cpm.train_loop import train
    try:
        d = train(a.autoencoder_config_path, a.probclass_config_path, a.dataset_train,
                  a.dataset_test if a.log_interval_test > 0 else None, a.log_dir_root, restore=a.restore,
                  max_steps=a.max_steps, max_minutes=a.max_minutes, log_train=a.log_interval_train,
                  log_save=a.log_interval_save, log_test=a.log_interval_test, ckpt_interval=a.ckpt_interval,
                  temporary=a.temporary)
    except (ConfigError, DatasetError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"log dir: {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
