"""fastMRI U-Net: parameter count, encoder/decoder split for FedMRI, magnitude mode, odd sizes."""

from __future__ import annotations

import torch

from automri.models import UNet, count_params
from automri.models.unet import ENCODER_MODULES


def _conv_block(a: int, b: int) -> int:
    return 9 * a * b + 9 * b * b  # two bias-free 3x3 convs; InstanceNorm has no affine parameters


def _unet_hand_count(chans: int, pools: int, in_chans: int) -> int:
    total = _conv_block(in_chans, chans)
    total += sum(_conv_block(chans * 2 ** (level - 1), chans * 2**level) for level in range(1, pools))
    total += _conv_block(chans * 2 ** (pools - 1), chans * 2**pools)  # bottleneck
    for level in range(pools - 1, -1, -1):
        total += 4 * chans * 2 ** (level + 1) * chans * 2**level  # 2x2 transpose conv, no bias
        total += _conv_block(chans * 2 ** (level + 1), chans * 2**level)
    return total + chans * in_chans + in_chans  # final 1x1 conv with bias


def test_parameter_count_matches_the_hand_count():
    for chans, pools, in_chans in [(4, 2, 2), (8, 3, 1), (32, 4, 1)]:
        assert count_params(UNet(chans=chans, num_pool_layers=pools, in_chans=in_chans)) == _unet_hand_count(
            chans, pools, in_chans
        )


def test_fastmri_default_size():
    # fastMRI's Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4) has 7,756,097 parameters.
    assert count_params(UNet(chans=32, num_pool_layers=4, in_chans=1)) == 7_756_097


def test_encoder_and_decoder_keys_split_the_state_dict():
    model = UNet(chans=4, num_pool_layers=3)
    encoder, decoder = model.encoder_keys(), model.decoder_keys()
    assert set(encoder).isdisjoint(decoder)
    assert sorted(encoder + decoder) == sorted(model.state_dict())
    assert {key.split(".")[0] for key in encoder} == set(ENCODER_MODULES)
    assert "conv.layers.0.weight" in encoder and "up_conv.2.1.bias" in decoder
    encoder_params = sum(model.state_dict()[key].numel() for key in encoder)
    expected = _conv_block(2, 4) + _conv_block(4, 8) + _conv_block(8, 16) + _conv_block(16, 32)
    assert encoder_params == expected


def test_magnitude_mode_returns_a_real_valued_complex_image(phantom):
    out = UNet(chans=4, num_pool_layers=2, in_chans=1)(phantom.kspace, phantom.mask)
    assert out.dtype == torch.complex64 and out.shape == phantom.target.shape
    assert torch.count_nonzero(out.imag) == 0


def test_odd_image_sizes_are_padded_in_the_decoder():
    kspace = torch.randn(1, 21, 19, dtype=torch.complex64)
    mask = torch.ones(1, 21, 19)
    assert UNet(chans=4, num_pool_layers=2)(kspace, mask).shape == (1, 21, 19)


def test_residual_adds_the_network_output_to_the_zero_filled_image(phantom):
    from automri.models.common import zero_filled
    from automri.physics.complex import channels_to_complex, complex_to_channels

    torch.manual_seed(0)
    model = UNet(chans=4, num_pool_layers=2, residual=True)
    x_u = zero_filled(phantom.kspace, phantom.mask)
    expected = x_u + channels_to_complex(model.network(complex_to_channels(x_u)))
    out = model(phantom.kspace, phantom.mask)
    torch.testing.assert_close(out, expected)
    plain = UNet(chans=4, num_pool_layers=2)
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(out - plain(phantom.kspace, phantom.mask), x_u)


def test_residual_in_magnitude_mode_adds_to_the_zero_filled_magnitude(phantom):
    from automri.models.common import zero_filled

    torch.manual_seed(0)
    model = UNet(chans=4, num_pool_layers=2, in_chans=1, residual=True)
    magnitude = zero_filled(phantom.kspace, phantom.mask).abs()
    out = model(phantom.kspace, phantom.mask)
    torch.testing.assert_close(out.real, magnitude + model.network(magnitude.unsqueeze(1))[:, 0])
    assert torch.count_nonzero(out.imag) == 0
