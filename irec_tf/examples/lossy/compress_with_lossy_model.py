"""Compress images with a trained lossy iREC model; writes .lic files, reconstructions, results.csv and
measures.csv (actual vs ideal bpp, PSNR, MS-SSIM).

    python examples/lossy/compress_with_lossy_model.py with model_dir=zoo/mini dataset.dataset_name=kodak \
        n_beams=10 extra_samples=1. kl_per_partition=3.
"""

import json
from pathlib import Path

from datasets import dataset_ingredient, get_files
from rec.experiment import add_observer, limit_threads
from sacred import Experiment

ex = Experiment("compress_with_lossy_model", ingredients=[dataset_ingredient])
add_observer(ex)


@ex.config
def default_config():
    model_dir = ""                # required: a model directory (config.json + weights.npz)
    model = "large_level_2_vae"
    level_1_filters = None        # None: take from the model directory
    level_2_filters = None
    kl_per_partition = 3.         # Ω (nats)
    block_size = 1000
    sampler = "beam_search"
    n_beams = 10                  # B
    extra_samples = 1.            # 1 + ε
    compression_seed = 42
    num_test_images = 1
    crop_size = 0                 # 0: whole images; else centre crops of this side
    output_file = ""              # default: {model_dir}/{dataset}/results.csv
    save_reconstructions = True
    scheduler = None              # (new) None: in this process; "in-process" | "local:N" | a Dask address | "slurm":
                                  # one shared_eval.sweep task per image, resumable (python -m rec evaluate)


@ex.automain
def compress_images(model_dir, model, level_1_filters, level_2_filters, kl_per_partition, block_size, sampler,
                    n_beams, extra_samples, compression_seed, num_test_images, crop_size, output_file,
                    save_reconstructions, scheduler, dataset):
    limit_threads()
    from rec.codec import load_model
    from rec.coding import make_sampler
    from rec.evaluate import evaluate, write_all

    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop

    if not model_dir:
        raise ValueError("model_dir is required (with model_dir=PATH)")
    make_sampler(sampler)
    lm = load_model(model_dir)
    for key, want in (("model", model), ("level_1_filters", level_1_filters), ("level_2_filters", level_2_filters)):
        if want is not None and lm.config.get(key) != want:
            raise ValueError(f"{key}={want!r} but {model_dir} holds {key}={lm.config.get(key)!r}")
    files = get_files()[: num_test_images or None]
    out = Path(output_file).parent if output_file else Path(model_dir) / dataset["dataset_name"]
    if scheduler is not None:
        from rec.evaluate import evaluate_files

        res = evaluate_files(model_dir, files, out, crop=crop_size, save_reconstructions=save_reconstructions,
                             scheduler=None if scheduler == "in-process" else scheduler,
                             kl_per_partition=kl_per_partition, block_size=block_size, n_beams=n_beams,
                             extra_samples=extra_samples, compression_seed=compression_seed)
        print(res.line())
        return res.rows
    images = []
    for f in files:
        img = read_image(f)
        images.append((f.name, center_crop(img, min(crop_size, *img.shape[:2])) if crop_size else img))
    rows, results = evaluate(lm, images, out, save_reconstructions=save_reconstructions,
                             kl_per_partition=kl_per_partition, block_size=block_size, n_beams=n_beams,
                             extra_samples=extra_samples, compression_seed=compression_seed)
    write_all(out, rows, results)
    print(json.dumps(results, indent=1))
    return results
