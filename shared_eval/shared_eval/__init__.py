"""Framework-free evaluation shared by every sub-project: metrics, measures.csv, baselines, checks."""

from .measures_csv import read_measures, summarize, write_measures, write_summary
from .metrics import bpp, bpsp, ms_ssim, psnr

__all__ = ["bpp", "bpsp", "ms_ssim", "psnr", "read_measures", "summarize", "write_measures", "write_summary"]
