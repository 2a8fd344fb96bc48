"""Convert a released TF1 checkpoint of the original code (0515_1103 / 0515_1309 / 0515_1310) into a model
directory of this package (``config.json`` + ``weights.npz``).

The variables of this package carry the original slim names (``autoencoder/encoder/h1/weights``,
``.../BatchNorm/{beta,gamma,moving_mean,moving_variance}``, ``autoencoder/encoder/centers``,
``probclass3d/logits/conv3d_conv0_mask/{weights,biases}`` ...) and the same layouts (conv2d HWio,
conv2d_transpose HW-out-in, conv3d DHWio), so conversion is a name lookup; optimizer slots (``*/Adam*``) and
``global_step`` are ignored. Usage::

    python -m cpm.import_original "ckpts/0515_1103 cvpr@low cvpr@res_shallow/ckpts/ckpt-XXXX" \
        ae_configs/cvpr/low pc_configs/cvpr/res_shallow zoo/0515_1103
"""

from __future__ import annotations

import argparse
import os
import sys

from shared_data.errors import (  # ModelError: a checkpoint lacking variables / of other shapes
    LicError,
    ModelError,
)


def convert(ckpt_prefix: str, ae_config_path, pc_config_path, out_dir) -> dict:
    import tensorflow as tf

    from .codec import save_model
    from .config import load_ae_config, load_pc_config, short_name
    from .model import CPM

    model = CPM(load_ae_config(ae_config_path), load_pc_config(pc_config_path))
    try:
        reader = tf.train.load_checkpoint(ckpt_prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise ModelError(f"{ckpt_prefix}: not a readable TF checkpoint ({e})") from None
    shapes = reader.get_variable_to_shape_map()
    missing = [k for k in model.vars if k not in shapes]
    if missing:
        raise ModelError(f"{ckpt_prefix}: {len(missing)} model variables missing, e.g. {missing[:3]}")
    weights = {k: reader.get_tensor(k) for k in model.vars}
    try:
        model.load_weights(weights)
    except ValueError as e:  # shape mismatch: the checkpoint belongs to another configuration
        raise ModelError(f"{ckpt_prefix}: {e} (is {ae_config_path} the configuration it was trained with?)") from None
    unused = sorted(k for k in shapes if k not in model.vars and "Adam" not in k and k != "global_step"
                    and not k.startswith("beta1_power") and not k.startswith("beta2_power"))
    save_model(model, out_dir, short_name(ae_config_path, "ae_configs"), short_name(pc_config_path, "pc_configs"),
               extra={"imported_from": os.path.basename(ckpt_prefix), "unused_checkpoint_variables": unused})
    return {"converted": len(weights), "unused": unused}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt_prefix")
    p.add_argument("ae_config")
    p.add_argument("pc_config")
    p.add_argument("out_dir")
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        info = convert(a.ckpt_prefix, a.ae_config, a.pc_config, a.out_dir)
    except (LicError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{a.out_dir}: {info['converted']} variables converted; unused: {info['unused'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
