import numpy as np
import pytest
from rec.data import center_crop, list_images, random_crops

from shared_data.imageio import write_png


def test_folder_reader_and_crops(tmp_path):
    write_png(tmp_path / "a.png", np.full((20, 50, 3), 7, np.uint8))
    write_png(tmp_path / "b.png", np.full((40, 40, 3), 9, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    files = list_images(tmp_path)
    assert [f.name for f in files] == ["a.png", "b.png"]
    batch = next(random_crops(files, 32, 4, seed=0))
    assert batch.shape == (4, 32, 32, 3) and batch.dtype == np.uint8   # small images are edge-padded
    assert center_crop(np.zeros((10, 30, 3), np.uint8), 32).shape == (10, 10, 3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no image files"):
        (tmp_path / "empty").mkdir()
        list_images(tmp_path / "empty")
