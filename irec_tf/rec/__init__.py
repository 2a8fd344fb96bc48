"""iREC (Flamich, Havasi & Hernández-Lobato, NeurIPS 2020): compressing images by encoding their latent
representations with relative entropy coding. TF 2.14 re-implementation; see irec_tf/README.md."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
