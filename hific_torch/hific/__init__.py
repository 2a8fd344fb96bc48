"""HiFiC: High-Fidelity Generative Image Compression (Mentzer et al., NeurIPS 2020), PyTorch.

Modules: ``codec`` (the codec: the shared ``Codec`` protocol and the file format), ``model`` (E, G and the
hyperprior as one network, coding tables, fingerprints), ``checkpoints`` (checkpoint I/O), ``config``
(hyper-parameters), ``network`` (E, G, h_a, h_s, D), ``entropy`` (hyperprior densities, coding tables),
``coding`` (range coder with escapes), ``portable`` (the exact integer h_s), ``losses``, ``perceptual``
(LPIPS), ``data``, ``train_loop``, ``evaluate``, ``import_original``. Nothing here imports torch, so
``python -m hific`` refuses an image above the pixel limit before loading it.
"""

__version__ = "0.1.0"
