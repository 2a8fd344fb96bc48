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
        raise NotImplementedError(f"sampler {name!r} exists in the original but is not re-implemented; "
                                  "the paper's results use sampler=beam_search")
    raise ValueError(f"unknown sampler {name!r}; known: {SAMPLERS}")


__all__ = ["AUX_RATIO_POWER_LAW", "BeamSearchCoder", "LevelCode", "LevelStats", "aux_fractions",
           "gaussian_kl", "num_samples", "make_sampler", "SAMPLERS"]
