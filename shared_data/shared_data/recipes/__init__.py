"""Dataset recipes: each reproduces one original preparation script's rule (see the README's table).

A recipe is a small picklable object with ``name``, ``help``, ``add_arguments(parser)``,
``options(args) -> dict`` (JSON-serializable; stored in ``OUT/prepare.json``), ``tasks(src, opts)``,
``process(task, out, opts) -> Outcome`` and optionally ``next_tasks(out, manifest, opts, stage)`` for a
second stage (TFRecord shards). :func:`shared_data.pipeline.run` executes them.
"""

from __future__ import annotations

from .clic import ClicCopy
from .crops import Crops
from .imagenet_cpm import ImageNetCPM
from .openimages_l3c import OpenImagesL3C
from .small import SmallImages

RECIPES = {r.name: r for r in (ImageNetCPM(), OpenImagesL3C(), OpenImagesL3C(preset="clic-frllic"),
                               ClicCopy(), SmallImages("cifar10"), SmallImages("imagenet32"),
                               SmallImages("imagenet64"), Crops())}

__all__ = ["RECIPES"]
