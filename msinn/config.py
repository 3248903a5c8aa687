"""Model sizes as configurations: the paper's network and our CPU ``lite`` one come
from the same code, only these numbers differ.

Coding order of the latents is coarse to fine (y5, y4, y3, y2, y1); every tuple below
that is indexed "per slice" follows that order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# λ per rate anchor (MSE, images in [0, 1]); the first 8 are CompressAI's, the last 4
# extend the range to λ = 1.8 for the wide-range (12-anchor) model of the paper.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800,
           0.320, 0.569, 1.012, 1.8)  # fmt: skip

LATENT_CHANNELS = (48, 48, 24, 12, 6)  # y5, y4, y3, y2, y1 (coding order)
LATENT_NAMES = ("y5", "y4", "y3", "y2", "y1")


@dataclass(frozen=True)
class MSINNConfig:
    name: str
    # INN: invertible units per level and hidden width of each coupling subnet, levels 0..3.
    depths: tuple[int, int, int, int] = (4, 4, 4, 4)
    inn_hidden: tuple[int, int, int, int] = (128, 128, 128, 192)
    # "haar": the last 1x1 conv of each level starts as an orthonormal Haar (and, at level 0,
    # colour) transform, so the untrained INN is a wavelet; "orthogonal": the paper's random QR.
    init: str = "haar"
    # Entropy model, per slice (y5, y4, y3, y2, y1): width of the cross-scale context CNN
    # (conv layers: ctx_layers) and of the checkerboard spatial CNN (spatial_layers masked convs).
    ctx_hidden: tuple[int, ...] = (128, 128, 128, 128, 128)
    ctx_layers: int = 5
    spatial_layers: int = 4
    # Latent residual prediction: refines ŷ inside its quantisation bin (0 layers = off).
    lrp_hidden: tuple[int, ...] = (128, 128, 128, 128, 128)
    lrp_layers: int = 5
    # Decoder-side residual UNet on the reconstructed image (width of its first stage; 0 = off).
    post_filter: int = 32
    # Rate anchors: rows of the gain tables; λ of anchor a is LAMBDAS[a]·lambda_scale in training.
    anchors: int = 8
    # < 1 shifts the whole λ ladder down: a small model at the paper's λ_min stops far above
    # 0.1 bpp, and its top anchors spend the ladder on rates nobody uses.
    lambda_scale: float = 1.0
    # Initial quantisation step (in pixel units, image in [0, 1]) of the first and last anchor;
    # the gain ladder starts geometric between them.
    init_step: tuple[float, float] = (0.16, 0.012)

    def __post_init__(self) -> None:
        if not 2 <= self.anchors <= len(LAMBDAS):
            raise ValueError(f"anchors must be in [2, {len(LAMBDAS)}], got {self.anchors}")
        if self.init not in ("haar", "orthogonal"):
            raise ValueError(f"init must be 'haar' or 'orthogonal', got {self.init!r}")
        if self.post_filter and (self.post_filter < 2 or self.post_filter % 2):  # its first stage is width/2 wide
            raise ValueError(f"post_filter must be 0 (none) or an even width ≥ 2, got {self.post_filter}")
        for field in ("ctx_hidden", "lrp_hidden"):
            if len(getattr(self, field)) != 5:
                raise ValueError(f"{field} needs one width per latent (5)")

    @property
    def lambdas(self) -> tuple[float, ...]:
        return tuple(lam * self.lambda_scale for lam in LAMBDAS[: self.anchors])

    @property
    def lrp(self) -> bool:
        return self.lrp_layers > 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MSINNConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


CONFIGS: dict[str, MSINNConfig] = {
    # The paper's network (≈12 M parameters with post-filter); 8 anchors, extendable to 12.
    "paper": MSINNConfig(name="paper"),
    # Our CPU model: narrow and shallow to decode about as fast as mbt2018-mean on 2 cores;
    # 12 anchors from the start for the wide rate range.
    "lite": MSINNConfig(
        name="lite",
        depths=(2, 2, 2, 2),
        inn_hidden=(16, 32, 48, 64),
        ctx_hidden=(64, 64, 48, 32, 16),
        ctx_layers=3,
        spatial_layers=3,
        lrp_hidden=(32, 32, 24, 16, 8),
        lrp_layers=2,
        # 26 k parameters, +0.09 s per Kodak decode. The shipped weights fitted it alone to the
        # trained codec (`train --add-post-filter 4 --train-only post_filter.`, weights/README.md);
        # `train --config lite` from scratch trains it with everything else.
        post_filter=4,
        anchors=12,
        lambda_scale=0.22,  # λ 0.0004 … 0.40: Kodak 0.1 … ~3 bpp with this model
    ),
    # A few-thousand-parameter model for tests and smoke runs of the training script.
    "tiny": MSINNConfig(name="tiny", depths=(1,) * 4, inn_hidden=(4,) * 4, ctx_hidden=(8,) * 5, ctx_layers=2,
                        spatial_layers=2, lrp_hidden=(4,) * 5, lrp_layers=2, post_filter=4, anchors=4),
}


# The next model to train (on a GPU): lite with wider INN couplings, context and LRP, 2.5 M
# parameters, because lite looks capacity-limited; its speed against lite: weights/README.md.
CONFIGS["mid"] = dataclasses.replace(
    CONFIGS["lite"],
    name="mid",
    inn_hidden=(32, 64, 96, 128),
    ctx_hidden=(128, 128, 96, 64, 32),
    lrp_hidden=(64, 64, 48, 32, 16),
)


def get_config(name: str) -> MSINNConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose from {sorted(CONFIGS)}") from None
