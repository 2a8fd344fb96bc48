"""Both training stages run, checkpoint, resume and warm-start (tiny images, a few steps)."""

import numpy as np
import pytest
import torch
import train as train_cli
from hific.checkpoints import load_checkpoint
from hific.codec import decode_image, encode_image
from PIL import Image


@pytest.fixture(scope="module")
def img_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (80 + 8 * i, 96, 3), dtype=np.uint8)).save(d / f"{i}.png")
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    return d


def test_two_stages_resume_and_warmstart(tmp_path, img_dir):
    common = ["--mini", "-bs", "2", "-crop", "64", "--lpips", "rand", "-log_intv", "1", "-save_intv", "2",
              "--data_dir", str(img_dir), "-o", str(tmp_path), "--schedule_step", "1"]
    assert train_cli.main(["-mt", "compression", "-steps", "2", "-n", "s1", *common]) == 0
    run1 = next(tmp_path.glob("s1_compression_*"))
    assert (run1 / "tensorboard").is_dir() and (run1 / "config.json").is_file()
    m1, ck = load_checkpoint(run1 / "checkpoints" / "final.pt")
    assert ck["step"] == 2 and set(ck["optimizers"]) == {"amort", "hyperlatent_likelihood", "aux"}
    # resume continues from step 2 to 3
    train_cli.main(["-mt", "compression", "-steps", "3", "--resume", str(run1 / "checkpoints" / "last.pt"), *common])
    _, ck = load_checkpoint(run1 / "checkpoints" / "final.pt")
    assert ck["step"] == 3
    # GAN stage warm-started from stage 1: step restarts at 0, D is trained and saved
    assert train_cli.main(["-mt", "compression_gan", "-steps", "2", "-n", "s2", "-warmstart", "-ckpt",
                           str(run1 / "checkpoints" / "final.pt"), *common]) == 0
    run2 = next(tmp_path.glob("s2_compression_gan_*"))
    m2, ck2 = load_checkpoint(run2 / "checkpoints" / "final.pt")
    assert ck2["step"] == 2 and "discriminator" in ck2 and "disc" in ck2["optimizers"]
    assert not torch.equal(m1.generator.out.weight, m2.generator.out.weight)


def test_lmm_training_stage(tmp_path, img_dir):
    """-LMM trains (the port's flag) and its final checkpoint codes real bitstreams."""
    assert train_cli.main(["-mt", "compression", "-LMM", "-lt", "logistic", "--mini", "-bs", "2", "-crop", "64",
                           "--lpips", "off", "-steps", "2", "-n", "lmm", "--data_dir", str(img_dir),
                           "-o", str(tmp_path), "-log_intv", "1"]) == 0
    m, ck = load_checkpoint(next(tmp_path.glob("lmm_compression_*")) / "checkpoints" / "final.pt")
    assert m.cfg.use_latent_mixture_model and m.cfg.likelihood_type == "logistic" and ck["step"] == 2
    img = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    cont, enc = encode_image(m, img)
    _, dec = decode_image(m, cont)
    assert torch.equal(enc["y_sym"], dec["y_sym"])


def test_bf16_autocast_keeps_rates_float32_and_trains_both_stages(tmp_path, img_dir):
    """``--bf16`` (issue 19, not in the port): the convolutions run in bfloat16, the rate terms, rounding and
    x_hat in float32 (close to the float32 forward on the same noise), and the checkpoints stay float32."""
    from hific.config import MINI
    from hific.model import HiFiC

    torch.manual_seed(0)
    m = HiFiC(MINI)
    x = torch.rand(2, 3, 64, 64)
    torch.manual_seed(1)
    ref = m(x)
    torch.manual_seed(1)  # the same U(-1/2, 1/2) draws: the noise is drawn in float32 either way
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = m(x)
    for f in ("bpp", "q_bpp", "x_hat", "y_hat"):
        assert getattr(got, f).dtype == torch.float32, f
    assert abs(float(got.bpp) - float(ref.bpp)) / float(ref.bpp) < 0.05
    assert float((got.x_hat - ref.x_hat).abs().mean()) < 0.05  # bf16: 8 mantissa bits; a few symbols round otherwise (0.025 measured)
    common = ["--mini", "-bs", "2", "-crop", "64", "--lpips", "off", "-log_intv", "1", "--bf16",
              "--data_dir", str(img_dir), "-o", str(tmp_path), "--schedule_step", "1"]
    assert train_cli.main(["-mt", "compression", "-steps", "2", "-n", "b1", *common]) == 0
    run1 = next(tmp_path.glob("b1_compression_*"))
    assert train_cli.main(["-mt", "compression_gan", "-steps", "2", "-n", "b2", "-warmstart", "-ckpt",
                           str(run1 / "checkpoints" / "final.pt"), *common]) == 0
    m2, ck = load_checkpoint(next(tmp_path.glob("b2_compression_gan_*")) / "checkpoints" / "final.pt")
    assert ck["step"] == 2 and all(p.dtype == torch.float32 for p in m2.state_dict().values() if p.is_floating_point())
