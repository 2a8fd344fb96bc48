"""Model and training configuration (paper hyper-parameters, Mentzer et al. 2020, Appendix A.1).

Names follow the PyTorch port (Justin-Tan/high-fidelity-generative-compression ``default_config.py``)
where it has one: ``latent_channels``, ``n_residual_blocks``, ``k_M``, ``k_P``, ``beta``, ``lambda_A``,
``lambda_B``, ``target_rate``. Where the port departs from the official TF code the official value is used
(see README "Differences from the original").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from shared_data.errors import ConfigError

#: Regime -> (lambda_a, target rate r_t in bpp). Paper Table A1 / TF configs.py / port ``lambda_A_map``.
REGIMES = {
    "low": (2.0 ** 1, 0.14),
    "med": (2.0 ** 0, 0.30),
    "high": (2.0 ** -1, 0.45),
}
#: lambda_b (rate weight when below target): 2^-4 as quoted by the port and NeuralCompression (TF: 2^-6).
LAMBDA_B = 2.0 ** -4


@dataclass(frozen=True)
class ModelConfig:
    """Architecture widths. The defaults are the paper's (codec ~181.5 M parameters)."""

    encoder_channels: tuple[int, ...] = (60, 120, 240, 480, 960)
    latent_channels: int = 220          # C, the bottleneck y
    hyper_channels: int = 320           # N, the hyper-latent z
    generator_channels: tuple[int, ...] = (960, 480, 240, 120, 60)
    n_residual_blocks: int = 9
    use_channel_norm: bool = True       # False -> InstanceNorm2d(affine) as the port's option
    normalize_input_image: bool = False  # the port's -norm: [-1,1] input and tanh output
    likelihood_type: str = "gaussian"   # or "logistic" (port's -lt)
    disc_channels: tuple[int, ...] = (64, 128, 256, 512)
    disc_latent_channels: int = 12
    factorized_filters: tuple[int, ...] = (3, 3, 3)
    name: str = "hific"
    # --- added in session 2 (serialised only when not at their default, so older configs keep their
    # canonical JSON and hence their fingerprints) ---
    #: "tf": TF "SAME" zero padding (default); "port": the PyTorch port's reflection padding, its transposed-
    #: conv alignment and its gated last density layer -- only for checkpoints imported from the port.
    layout: str = "tf"
    #: the port's -LMM: p(y | z) is a discretized logistic mixture (K components) predicted by one h_s net.
    use_latent_mixture_model: bool = False
    mixture_components: int = 4
    # --- added in session 4 (issue 18, parity with the port; serialised only when not at their default) ---
    #: where z is rounded for coding and for the quantised rate: "median" (TF EntropyBottleneck / CompressAI:
    #: round(z - median) + median, the default) or "zero" (the port: floor(z + 1/2), tables centred at 0).
    z_rounding: str = "median"
    #: "tf": the official single-scale patch D (default); "port": the PyTorch port's D (4 x SN conv4x4 s2,
    #: reflect pads, unnormalised 1x1 head, latent branch without SN upsampled x16) -- for parity checks.
    discriminator: str = "tf"
    #: eps in the rate estimate -log2(p + eps) (training forward): 0 (TF / tfc: the 1e-9 likelihood bound
    #: alone, the default) or 1e-9 (the port's ``_estimate_entropy``: log(p + 1e-9) on top of the bound).
    rate_log_eps: float = 0.0

    def __post_init__(self):
        if self.likelihood_type not in ("gaussian", "logistic"):
            raise ConfigError(f"likelihood_type must be 'gaussian' or 'logistic', got {self.likelihood_type!r}")
        if self.layout not in ("tf", "port"):
            raise ConfigError(f"layout must be 'tf' or 'port', got {self.layout!r}")
        if self.z_rounding not in ("median", "zero"):
            raise ConfigError(f"z_rounding must be 'median' or 'zero', got {self.z_rounding!r}")
        if self.discriminator not in ("tf", "port"):
            raise ConfigError(f"discriminator must be 'tf' or 'port', got {self.discriminator!r}")
        if not self.rate_log_eps >= 0:
            raise ConfigError(f"rate_log_eps must be >= 0, got {self.rate_log_eps!r}")
        if self.mixture_components < 1:
            raise ConfigError("mixture_components must be >= 1")
        if len(self.encoder_channels) != 5 or len(self.generator_channels) != 5:
            raise ConfigError("encoder_channels and generator_channels need 5 entries (4 stride-2 stages)")
        if self.n_residual_blocks < 0:
            raise ConfigError("n_residual_blocks must be >= 0")

    def to_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        for k, default in _LATER_FIELDS.items():
            if d[k] == default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown model config keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


_LATER_FIELDS = {"layout": "tf", "use_latent_mixture_model": False, "mixture_components": 4,
                 "z_rounding": "median", "discriminator": "tf", "rate_log_eps": 0.0}

#: A reduced-width configuration of the same architecture (for CPU mini training and the committed zoo).
MINI = ModelConfig(encoder_channels=(12, 24, 48, 64, 96), latent_channels=48, hyper_channels=48,
                   generator_channels=(96, 64, 48, 24, 12), n_residual_blocks=2,
                   disc_channels=(16, 32, 64, 96), disc_latent_channels=4, name="hific-mini")


@dataclass
class TrainConfig:
    """Loss weights and schedules (paper Eq. 4/5, Appendix A; TF ``configs.py``; port ``default_config``)."""

    regime: str = "low"
    k_M: float = 0.075 * 2 ** -5          # MSE weight, MSE on [0,255]
    k_P: float = 1.0                      # LPIPS weight
    beta: float = 0.15                    # GAN weight
    lambda_B: float = LAMBDA_B
    batch_size: int = 8
    crop_size: int = 256
    learning_rate: float = 1e-4
    lr_decay_step: int = 500_000          # lr x0.1 afterwards
    schedule_step: int = 50_000           # target x(0.2/0.14) and rate weight x0.5 before this step
    target_factor_early: float = 0.20 / 0.14
    lambda_factor_early: float = 0.5      # official direction (TF 1/(2*lmbda), NC lam2_factors); port: x2 (bug)
    grad_clip: float = 0.0                # 0 = off (paper: off)
    n_steps: int = 1_000_000
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.regime not in REGIMES:
            raise ConfigError(f"regime must be one of {sorted(REGIMES)}, got {self.regime!r}")

    @property
    def lambda_A(self) -> float:
        return REGIMES[self.regime][0]

    @property
    def target_rate(self) -> float:
        return REGIMES[self.regime][1]

    def scheduled(self, step: int) -> dict:
        """Schedule at generator step ``step`` (paper App. A.1; rerun from 0 in the GAN stage as TF does)."""
        early = step < self.schedule_step
        lr = self.learning_rate * (0.1 if step >= self.lr_decay_step else 1.0)
        return {
            "target_rate": self.target_rate * (self.target_factor_early if early else 1.0),
            "lambda_A": self.lambda_A * (self.lambda_factor_early if early else 1.0),
            "lambda_B": self.lambda_B * (self.lambda_factor_early if early else 1.0),
            "lr": lr,
        }
