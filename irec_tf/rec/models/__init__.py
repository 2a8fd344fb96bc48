"""The two iREC models: ``resnet_vae`` (lossless) and ``large_level_2_vae`` (lossy)."""

from .lossy import Large2LevelVAE
from .resnet_vae import BidirectionalResNetVAE

MODELS = ("resnet_vae", "large_level_2_vae")
NEW_LOSSY_FLAVOUR = "original"  # layer flavour of newly trained lossy models (the original's layers)


def build_model(config: dict):
    """Build the model named by ``config['model']`` with the original's config keys."""
    name = config.get("model")
    if name == "resnet_vae":
        return BidirectionalResNetVAE(num_res_blocks=config.get("num_res_blocks", 24),
                                      deterministic_filters=config.get("deterministic_filters", 160),
                                      stochastic_filters=config.get("stochastic_filters", 32),
                                      lamb=config.get("lamb", 0.1),
                                      likelihood_log_scale_init=config.get("likelihood_log_scale_init", 0.0),
                                      likelihood_form=config.get("likelihood_form", "stable"))
    if name == "large_level_2_vae":
        return Large2LevelVAE(level_1_filters=config.get("level_1_filters", 196),
                              level_2_filters=config.get("level_2_filters", 128),
                              # no key = a checkpoint from before the key existed; new models get "original"
                              # from rec.train.train_lossy (NEW_LOSSY_FLAVOUR)
                              layer_flavour=config.get("layer_flavour", "legacy"))
    if name in ("large_level_1_vae", "large_level_4_vae", "large_resnet_vae"):
        raise NotImplementedError(f"model={name!r} is not part of this reproduction: it exists in the original "
                                  "but none of the paper's results use it (lossless: resnet_vae, lossy: "
                                  f"large_level_2_vae, survey §1); use one of {MODELS}")
    raise ValueError(f"unknown model {name!r}; known: {MODELS}")


__all__ = ["BidirectionalResNetVAE", "Large2LevelVAE", "build_model", "MODELS", "NEW_LOSSY_FLAVOUR"]
