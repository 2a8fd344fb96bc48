"""CPM: Conditional Probability Models for Deep Image Compression (Mentzer et al., CVPR 2018), TF 2.14."""
