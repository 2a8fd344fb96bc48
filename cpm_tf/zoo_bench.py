"""Training-speed measurements for the CPM zoo recipe (issue 19): steps/s of the real training step.

    python zoo_bench.py AE_CONFIG PC_CONFIG [--threads N] [--jit] [--set KEY=VALUE ...] [--steps 20]
        [--warmup 5] [--data DIR|random] [--data_only]

One line of JSON per run: steady-state seconds per step (median and mean of --steps steps after --warmup
traced/warm-up steps), steps/s, the process CPU seconds per step (all threads, the input pipeline's
included: on a shared machine the better measure of cost), and the seconds per batch the input pipeline needs on its own (measured
separately over the same number of batches, so the step timing includes it exactly as training does).
``--jit`` compiles the step with XLA (``tf.function(jit_compile=True)``); ``--set`` overrides autoencoder
config values (``cpm.config.parse`` overrides, e.g. ``crop_size=(96,96)``, ``batch_size=16``, ``arch_param_n=96``).
Nothing here changes how models are stored or coded: it only times ``train_loop.Trainer.train_step``.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from shared_data import paths

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ae_config")
    p.add_argument("pc_config")
    p.add_argument("--threads", type=int, default=2, help="TF intra-op threads (inter-op: --inter)")
    p.add_argument("--inter", type=int, default=None, help="TF inter-op threads (default: = --threads)")
    p.add_argument("--jit", action="store_true", help="XLA: tf.function(jit_compile=True)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--data", default=str(paths.train_dir()),
                   help="training images, or 'random' (uniform noise batches: no input pipeline)")
    p.add_argument("--decoded", action="store_true", help="the zoo recipe's pipeline: images decoded once into "
                   "memory (cpm.data.decoded_dataset) instead of shared_data's reader (decodes every step)")
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 1:
        p.error("--steps and --warmup must be >= 1")
    import tensorflow as tf

    from shared_data import threads
    threads.limit(a.threads, inter=a.inter)  # the project's one thread policy (TF's intra/inter-op pools)
    from cpm.config import load_ae_config, load_pc_config
    from cpm.data import make_dataset
    from cpm.model import CPM
    from cpm.train_loop import Trainer

    ae, pc = load_ae_config(a.ae_config, a.overrides), load_pc_config(a.pc_config)
    tf.random.set_seed(1234)
    model = CPM(ae, pc, seed=1234)
    trainer = Trainer(model, itr_per_epoch=1000)
    if a.jit:
        trainer.train_step = tf.function(trainer._train_step, jit_compile=True, reduce_retracing=True)
    n = a.warmup + a.steps
    crop = int(ae.crop_size[0])
    data_s = None
    if a.data == "random":
        g = tf.random.Generator.from_seed(1)
        batches = [g.uniform((ae.batch_size, crop, crop, 3), 0, 255) for _ in range(4)]
        it = (batches[i % 4] for i in range(n))
    else:
        ds, _ = make_dataset(a.data, ae.crop_size, ae.batch_size, seed=666, cache="decoded" if a.decoded else None)
        it0 = iter(ds)
        next(it0)
        t0 = time.perf_counter()
        for _ in range(a.steps):
            next(it0)
        data_s = (time.perf_counter() - t0) / a.steps
        it = iter(ds)
    times, cpu = [], 0.0
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        out, _ = trainer.train_step(next(it))
        float(out["total"])  # block until the step is done
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu += time.process_time() - c0
    med = statistics.median(times)
    r = {"ae": str(a.ae_config), "set": a.overrides, "threads": a.threads,
         "inter": a.inter if a.inter is not None else a.threads, "jit": a.jit, "decoded": a.decoded, "crop": crop,
         "batch": int(ae.batch_size), "n": int(ae.arch_param_n), "B": int(ae.arch_param_B),
         "s_per_step_median": round(med, 4), "s_per_step_mean": round(statistics.fmean(times), 4),
         "steps_per_s": round(1.0 / med, 3), "cpu_s_per_step": round(cpu / a.steps, 4), "pixels_per_s": round(ae.batch_size * crop * crop / med),
         "data_s_per_batch": None if data_s is None else round(data_s, 4),
         "load_avg_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
