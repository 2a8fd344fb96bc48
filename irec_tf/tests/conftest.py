import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = ROOT.parent
KODAK_DIR = Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))
TRAIN_DIR = Path(os.environ.get("TRAIN_DIR", REPO.parent / "shared" / "data" / "train-photos"))
