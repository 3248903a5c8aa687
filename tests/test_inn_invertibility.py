"""The INN is a bijection: synthesis(analysis(x)) == x up to float rounding."""

from __future__ import annotations

import pytest
import torch

from msinn.config import MSINNConfig, get_config
from msinn.inn import ActNorm, AffineCoupling, InvertibleConv1x1, MultiScaleINN, squeeze, unsqueeze


def _randomise(module: torch.nn.Module, scale: float = 0.02) -> None:
    """Give the zero-initialised coupling outputs random weights (as training would) so the
    test is not trivial, and perturb the 1x1 convs away from exact orthogonality."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() != 4 or not p.any():  # 1x1-conv matrices, ActNorm, biases, zero-init outputs
                p.add_(scale * torch.randn_like(p))


def test_squeeze_orders_channels_position_major_and_unsqueeze_inverts():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    s = squeeze(x)
    assert s.shape == (1, 8, 2, 3)
    assert s[0, 1, 0, 0] == x[0, 1, 0, 0]  # position (0,0), channel 1
    assert s[0, 2 + 0, 0, 0] == x[0, 0, 0, 1]  # position (0,1), channel 0
    assert torch.equal(unsqueeze(s), x)


@pytest.mark.parametrize("block", [ActNorm(8), InvertibleConv1x1(8), AffineCoupling(8, 16)])
def test_each_block_inverse_undoes_forward(block):
    x = torch.randn(2, 8, 12, 10)
    block.train()
    block(x)  # data-dependent init where there is one
    _randomise(block)
    assert (block.inverse(block(x)) - x).abs().max() < 1e-5


def test_actnorm_refuses_eval_before_initialisation():
    with pytest.raises(RuntimeError, match="not initialised"):
        ActNorm(4).eval()(torch.zeros(1, 4, 2, 2))


@pytest.mark.parametrize("config", ["paper", "lite"])
@pytest.mark.parametrize("init", ["haar", "orthogonal"])
def test_inn_reconstructs_768x512_image_within_1e4(config, init):
    cfg = MSINNConfig.from_dict({**get_config(config).to_dict(), "init": init})
    inn = MultiScaleINN(cfg)
    torch.manual_seed(0)
    x = torch.rand(1, 3, 512, 768)
    inn.train()
    with torch.no_grad():
        inn.analysis(x[:, :, :128, :128])  # ActNorm init
        _randomise(inn)
        inn.eval()
        ys = inn.analysis(x)
        assert [tuple(y.shape[1:]) for y in ys] == [(6, 256, 384), (12, 128, 192), (24, 64, 96), (48, 32, 48), (48, 32, 48)]
        assert sum(y.numel() for y in ys) == x.numel()
        assert (inn.synthesis(ys) - x).abs().max().item() < 1e-4


def test_haar_init_is_an_orthonormal_transform():
    """Untrained, the INN is a wavelet: orthonormal up to the ActNorm scale, so energy of
    (x − mean) is preserved up to one factor per level."""
    inn = MultiScaleINN(get_config("lite"))
    for units in inn.levels:
        w = units[-1].conv.weight
        prod = w
        for unit in list(units)[:-1][::-1]:
            prod = prod @ unit.conv.weight
        assert torch.allclose(prod @ prod.T, torch.eye(w.shape[0]), atol=1e-6)
