"""L3C: Practical Full Resolution Learned Lossless Image Compression (Mentzer et al., CVPR 2019), PyTorch."""
