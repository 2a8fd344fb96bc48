"""HiFiC: High-Fidelity Generative Image Compression (Mentzer et al., NeurIPS 2020), PyTorch.

Modules: ``config`` (hyper-parameters), ``network`` (E, G, h_a, h_s, D), ``entropy`` (hyperprior densities,
coding tables), ``coding`` (constriction range coder with escapes), ``model`` (the codec, checkpoints),
``losses``, ``perceptual`` (LPIPS), ``data``, ``train_loop``, ``evaluate``, ``import_original``.
"""

__version__ = "0.1.0"
