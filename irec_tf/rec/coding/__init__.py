"""Relative entropy coding (iREC): partitioning, shared-seed candidates, beam search, index coding."""

from .beam_search import (
    AUX_RATIO_POWER_LAW,
    BeamSearchCoder,
    LevelCode,
    LevelStats,
    aux_fractions,
    gaussian_kl,
    num_samples,
)

SAMPLERS = ("beam_search",)


def make_sampler(name: str):
    if name == "beam_search":
        return BeamSearchCoder
    if name in ("importance", "rejection"):
        raise NotImplementedError(
            f"sampler={name!r} is not part of this reproduction: the original's {name} sampler is an "
            "alternative that the paper's published numbers do not use (its README runs both the lossless and "
            "the lossy results with sampler=beam_search, survey §3 items 5-6); use sampler=beam_search")
    raise ValueError(f"unknown sampler {name!r}; known: {SAMPLERS}")


__all__ = ["AUX_RATIO_POWER_LAW", "BeamSearchCoder", "LevelCode", "LevelStats", "aux_fractions",
           "gaussian_kl", "num_samples", "make_sampler", "SAMPLERS"]
