"""``python -m shared_eval`` lists the command-line tools of this package."""

import sys

TOOLS = {
    "check": "regression check of a measures.csv against ci/references (published or mini)",
    "baselines": "classical codecs (JPEG, WebP, JPEG 2000, AVIF, JPEG XL, PNG ...) on a folder of images",
    "plot": "R-D plots of measures files with published curves overlaid",
}

if __name__ == "__main__":
    print("usage: python -m shared_eval.<tool> --help\n")
    for k, v in TOOLS.items():
        print(f"  {k:10s} {v}")
    sys.exit(0)
