"""Train CPM (the original's ``train.py``): ``python train.py AE_CONFIG PC_CONFIG [flags]``.

Example: ``python train.py ae_configs/cvpr/low pc_configs/cvpr/res_shallow -dtrain imgnet_train -o logs``.
The original trains forever; ``--max_steps`` / ``--max_minutes`` (new) stop it. ``--restore LOG_DIR``
restores (the latest, or ``--restore_itr``) into a new ``... RESTORE@...`` log dir, or continues in LOG_DIR
with ``--restore_continue``.

(new, issue 14) ``--strategy mirrored`` trains on every local GPU (``MirroredStrategy``), ``--strategy
multiworker`` on the workers of ``$TF_CONFIG`` (``MultiWorkerMirroredStrategy``; the chief — worker 0 —
writes the log dir). The config's ``batch_size`` stays the global batch, split over the replicas.
``--cpu_replicas N`` (a testing aid for CPU-only machines, with ``--strategy mirrored``) splits the CPU
into N logical devices, one replica each.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("autoencoder_config_path")
    p.add_argument("probclass_config_path")
    p.add_argument("--dataset_train", "-dtrain", default="imgnet_train",
                   help="imgnet_train ($RECORDS_ROOT/train/*.tfrecord), a directory of images or an escaped glob")
    p.add_argument("--dataset_test", "-dtest", default="imgnet_test", help="like -dtrain (imgnet_test: .../val)")
    p.add_argument("--dataset_codec_distance", "-dcodec", default="testset",
                   help="dataset whose BPG curve ($OTHER_CODECS_ROOT, see cpm/codec_distance.py) gives the "
                        "test/distance_BPG_MS-SSIM summary; skipped with a message when absent")
    p.add_argument("--log_dir_root", "-o", default="logs", metavar="LOG_DIR_ROOT")
    p.add_argument("--log_interval_train", "-ltrain", type=int, default=100)
    p.add_argument("--log_interval_save", "-lsave", type=int, default=1000)
    p.add_argument("--log_interval_test", "-ltest", type=int, default=1000, help="-1 disables testing")
    p.add_argument("--log_run_metadata", "-lmeta", action="store_true",
                   help="write the graph and a profile of the first step to TensorBoard")
    p.add_argument("--summarize_gradients", "-lgrads", action="store_true",
                   help="gradient histograms and global norms at every train log interval")
    p.add_argument("--temporary", "-t", action="store_true", help="append _TMP to LOG_DIR_ROOT")
    p.add_argument("--from_identity", metavar="IDENTITY_CKPT_DIR",
                   help="like --restore, but global_step and Adam state are not restored (the original's "
                        "promised KMeans init of the centers was never implemented there, nor here)")
    p.add_argument("--restore", "-r", metavar="RESTORE_DIR", help="log dir (or its ckpts/) to restore from")
    p.add_argument("--restore_itr", "-i", type=int, default=-1,
                   help="restore the latest checkpoint with step <= this (-1: latest)")
    p.add_argument("--restore_continue", action="store_true",
                   help="write logs and checkpoints into the restored log dir instead of a new one")
    p.add_argument("--restore_skip_vars", type=str, default=None,
                   help='comma list; variables whose original name contains one are not restored, e.g. "Adam,global_step"')
    p.add_argument("--ckpt_interval", type=float, default=1.0, help="keep one checkpoint every N hours")
    p.add_argument("--description", "-d", type=str, default=None,
                   help="appended to LOG_DIR/description.txt (the original wrote it to a Google Sheet)")
    p.add_argument("--max_steps", type=int, default=None, help="(new) stop after this many steps")
    p.add_argument("--max_minutes", type=float, default=None, help="(new) stop after this many minutes")
    p.add_argument("--threads", type=int, default=2, help="(new) TF intra/inter-op threads")
    from shared_data import tfdist
    tfdist.add_strategy_argument(p)
    p.add_argument("--cpu_replicas", type=int, default=None, metavar="N",
                   help="(new, testing aid) with --strategy mirrored: split the CPU into N logical devices, "
                        "one replica each (how the tests check distributed training without GPUs)")
    a = p.parse_args(argv)
    from shared_data.errors import ConfigError, LicError
    try:  # bad --strategy / $TF_CONFIG: one line, before TensorFlow starts and before anything is written
        tfdist.check_name(a.strategy)
        if a.cpu_replicas is not None and (a.strategy != "mirrored" or a.cpu_replicas < 1):
            raise ConfigError(f"--cpu_replicas {a.cpu_replicas}: needs --strategy mirrored and N >= 1")
        if a.strategy == "multiworker":
            tfdist.check_tf_config()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from cpm.tfsetup import limit_threads
    limit_threads(a.threads)
    from cpm.train_loop import train

    try:
        strategy = tfdist.make_strategy(a.strategy, cpu_replicas=a.cpu_replicas)
        d = train(a.autoencoder_config_path, a.probclass_config_path, a.dataset_train,
                  a.dataset_test if a.log_interval_test > 0 else None, a.log_dir_root, restore=a.restore,
                  max_steps=a.max_steps, max_minutes=a.max_minutes, log_train=a.log_interval_train,
                  log_save=a.log_interval_save, log_test=a.log_interval_test, ckpt_interval=a.ckpt_interval,
                  temporary=a.temporary, restore_itr=a.restore_itr, restore_continue=a.restore_continue,
                  restore_skip_vars=a.restore_skip_vars, from_identity=a.from_identity,
                  log_run_metadata=a.log_run_metadata, summarize_grads=a.summarize_gradients,
                  description=a.description, dataset_codec_distance=a.dataset_codec_distance,
                  strategy=strategy)
    except (LicError, FileNotFoundError) as e:  # config, dataset, checkpoint
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"log dir: {d}" if d is not None else "not the chief worker: the chief writes the log dir")
    return 0


if __name__ == "__main__":
    sys.exit(main())
