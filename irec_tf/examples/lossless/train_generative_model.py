"""Train the lossless iREC model (the ResNet VAE).

    python examples/lossless/train_generative_model.py with model=resnet_vae num_res_blocks=24 iters=500000 \
        lamb=0.1 dataset_info.dataset_name=cifar10 dataset_info.dataset_base_path=/data
    python examples/lossless/train_generative_model.py print_config
"""

from pathlib import Path

from datasets import dataset_ingredient, train_batches
from rec.experiment import ROOT, add_observer, add_strategy_hook, limit_threads
from sacred import Experiment

ex = Experiment("train_generative_model", ingredients=[dataset_ingredient])
add_observer(ex)
add_strategy_hook(ex)  # strategy / cpu_replicas checked before anything is written


@ex.config
def default_config():
    model = "resnet_vae"
    optimizer = "adamax"              # adamax (the paper's) | adam
    num_res_blocks = 24
    deterministic_filters = 160
    stochastic_filters = 32
    learning_rate = 1e-3
    lamb = 0.1                        # λ: free bits per channel
    likelihood_log_scale_init = 0.0   # initial global log-scale of the discretized logistic (x in [-.5,.5])
    beta = 1.0
    anneal = False                    # linear KL warm-up over annealing_end steps (not used by the paper)
    annealing_end = 0
    iters = 500000
    batch_size = 8
    shuffle_buffer_size = 5000        # kept for the original's key: cifar10/imagenet32 are fully reshuffled per epoch
    num_prefetch = 32
    drop_learning_rate_after_iter = 50000
    learning_rate_drop_rate = 0.3
    ema_decay = 0.999                 # weights saved are an EMA with this decay (0 = the live weights)
    tensorboard_log_freq = 1000
    max_seconds = 0.0                 # stop (and save) after this wall time; 0 = no limit
    max_images = 500
    lossy = False
    model_save_base_dir = str(ROOT / "runs" / "models")
    model_save_dir = ""  # default: {base}/{dataset}/resnet_vae//gaussian/blocks_N/beta_..._lamb_..._discretized_logistic_lossless
    strategy = "default"        # (new) default (one device) | mirrored (local GPUs) | multiworker ($TF_CONFIG)
    cpu_replicas = 0            # (new, testing aid) with strategy=mirrored: N logical CPU devices, one replica each


@ex.automain
def train(model, optimizer, num_res_blocks, deterministic_filters, stochastic_filters, learning_rate, lamb,
          likelihood_log_scale_init, beta,
          anneal, annealing_end, iters, shuffle_buffer_size, batch_size, drop_learning_rate_after_iter,
          learning_rate_drop_rate, ema_decay,
          tensorboard_log_freq, max_seconds, max_images, lossy, model_save_base_dir, model_save_dir,
          dataset_info, strategy, cpu_replicas, _seed):
    limit_threads()
    from rec.distribute import make

    dist = make(strategy, cpu_replicas)  # before any TF op (a CPU split must precede TF's start)
    seed = _seed % (2 ** 31)
    if dist is not None:  # every worker: the chief's seed (the same global batches and noise)
        from rec.distribute import common_seed

        seed = common_seed(dist, seed)
    from rec.train import train_lossless

    if model != "resnet_vae" or lossy:
        raise NotImplementedError(f"model={model!r} lossy={lossy} is not part of this reproduction: this experiment's lossy mode trained the "
                                  "original's large_resnet_vae, which the paper does not use; the paper's lossy "
                                  "model trains with examples/lossy/train_lossy_model.py")
    save_dir = Path(model_save_dir or Path(model_save_base_dir) / dataset_info["dataset_name"] / "resnet_vae" /
                    "gaussian" / f"blocks_{num_res_blocks}" /
                    f"beta_{beta:.3f}_lamb_{lamb:.3f}_discretized_logistic_lossless")
    config = dict(model=model, num_res_blocks=num_res_blocks, deterministic_filters=deterministic_filters,
                  stochastic_filters=stochastic_filters, lamb=lamb,
                  likelihood_log_scale_init=likelihood_log_scale_init)
    batches = train_batches(batch_size, seed, max_images=max_images,
                            shuffle_buffer_size=shuffle_buffer_size)
    _, hist = train_lossless(config, batches, iters, save_dir, log_dir=save_dir / "logs" / "train", beta=beta,
                             learning_rate=learning_rate, drop_learning_rate_after_iter=drop_learning_rate_after_iter,
                             learning_rate_drop_rate=learning_rate_drop_rate, log_freq=tensorboard_log_freq,
                             ema_decay=ema_decay, optimizer=optimizer, anneal=anneal,
                             annealing_end=annealing_end,
                             max_seconds=max_seconds or None, strategy=dist, noise_seed=seed)
    last = hist[-1] if hist else {}  # empty: resumed at iters already (nothing left to train)
    print(f"saved {save_dir} after {len(hist)} iterations; last: {last}")
    return {"save_dir": str(save_dir), "iterations": len(hist), **last}
