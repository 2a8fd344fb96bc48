"""sga: iterative inference (SGA and its ablations) on the mean-scale hyperprior — Yang, Bamler, Mandt,
"Improving Inference for Neural Image Compression", NeurIPS 2020 — on TensorFlow 2.14 + tfc 2.14.1."""

import os

# TF prints harmless "Unable to register cuDNN/cuFFT/cuBLAS factory" errors at import; keep stderr to one
# clear line per real error (the demo contract). An explicit TF_CPP_MIN_LOG_LEVEL wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
