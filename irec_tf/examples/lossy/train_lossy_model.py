"""Train the lossy iREC model (``large_level_2_vae``).

    python examples/lossy/train_lossy_model.py with model=large_level_2_vae loss_fn=mse iters=200000 beta=0.01
    python examples/lossy/train_lossy_model.py print_config
"""

from pathlib import Path

from datasets import dataset_ingredient, get_files
from rec.experiment import ROOT, add_observer, add_strategy_hook, limit_threads
from sacred import Experiment

ex = Experiment("train_lossy_model", ingredients=[dataset_ingredient])
add_observer(ex)
add_strategy_hook(ex)  # strategy / cpu_replicas checked before anything is written


@ex.config
def default_config():
    model = "large_level_2_vae"
    level_1_filters = 196       # N
    level_2_filters = 128       # M
    loss_fn = "mse"             # mse | ms-ssim
    beta = 0.01                 # λ: loss = β·distortion + bpp
    anneal_kl = False
    anneal_end = 60000
    optimizer = "adam"
    learning_rate = 1e-4
    iters = 200000
    batch_size = 8
    crop_size = 256             # random crops (the original: 256²)
    log_freq = 300
    max_seconds = 0.0           # stop (and save) after this wall time; 0 = no limit
    max_images = 500            # images kept in memory for cropping
    model_save_base_dir = str(ROOT / "runs" / "models")
    init_from = ""              # a model directory to start from (fine-tuning); "" = fresh init
    model_save_dir = ""         # default: {base}/{dataset}/{model}/beta_{beta:.3f}_filters_{N}_{M}
    strategy = "default"        # (new) default (one device) | mirrored (local GPUs) | multiworker ($TF_CONFIG)
    cpu_replicas = 0            # (new, testing aid) with strategy=mirrored: N logical CPU devices, one replica each


@ex.automain
def train(model, level_1_filters, level_2_filters, loss_fn, beta, anneal_kl, anneal_end, optimizer,
          learning_rate, iters, batch_size, crop_size, log_freq, max_seconds, max_images,
          model_save_base_dir, model_save_dir, init_from, dataset, strategy, cpu_replicas, _seed):
    limit_threads()
    from rec.distribute import make

    dist = make(strategy, cpu_replicas)  # before any TF op (a CPU split must precede TF's start)
    seed = _seed % (2 ** 31)
    if dist is not None:  # every worker: the chief's seed (the same global batches and noise)
        from rec.distribute import common_seed

        seed = common_seed(dist, seed)
    from rec.data import random_crops
    from rec.train import train_lossy

    if model != "large_level_2_vae":
        raise NotImplementedError(f"model={model!r} is not part of this reproduction: the paper's lossy "
                                  "results use large_level_2_vae only")
    if optimizer != "adam":
        raise ValueError(f"optimizer={optimizer!r}: the lossy models train with optimizer=adam (the original's)")
    save_dir = Path(model_save_dir or Path(model_save_base_dir) / dataset["dataset_name"] / model /
                    f"beta_{beta:.3f}_filters_{level_1_filters}_{level_2_filters}")
    config = dict(model=model, level_1_filters=level_1_filters, level_2_filters=level_2_filters)
    batches = random_crops(get_files(), crop_size, batch_size, seed=seed, max_images=max_images)
    _, hist = train_lossy(config, batches, iters, save_dir, log_dir=save_dir / "logs" / "train", beta=beta,
                          loss_fn=loss_fn, learning_rate=learning_rate, log_freq=log_freq,
                          anneal_kl=anneal_kl, anneal_end=anneal_end, max_seconds=max_seconds or None,
                          init_from=init_from or None, strategy=dist, noise_seed=seed)
    last = hist[-1] if hist else {}  # empty: resumed at iters already (nothing left to train)
    print(f"saved {save_dir} after {len(hist)} iterations; last: {last}")
    return {"save_dir": str(save_dir), "iterations": len(hist), **last}
