"""training/layers.py against plain-torch references written here (StyleGAN2 formulas, Karras et al. 2020)."""

import math

import pytest
import torch
import torch.nn.functional as F

from training import layers

#----------------------------------------------------------------------------
# Independent references.

def lrelu_ref(x, gain=math.sqrt(2), clamp=None):
    x = F.leaky_relu(x, 0.2) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x

def modconv_ref(x, weight, styles, demodulate=True, padding=0):
    """Per-sample conv with weights scaled by styles along the input channels (StyleGAN2 Eq. 1-3)."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        outs.append(F.conv2d(x[i:i+1], w, padding=padding))
    return torch.cat(outs)

def make_synthesis_layer(seed=0, **kwargs):
    torch.manual_seed(seed)
    layer = layers.SynthesisLayer(**{'in_channels': 4, 'out_channels': 6, 'w_dim': 8, 'resolution': 8, **kwargs})
    with torch.no_grad(): # non-trivial values so every term shows up
        layer.bias.copy_(torch.randn_like(layer.bias))
        layer.affine.bias.copy_(torch.randn_like(layer.affine.bias) + 1)
        if layer.use_noise:
            layer.noise_strength.fill_(0.7)
    return layer

#----------------------------------------------------------------------------

def test_normalize_2nd_moment_gives_unit_rms():
    x = torch.randn(5, 7) * 3
    y = layers.normalize_2nd_moment(x)
    assert torch.allclose(y.square().mean(dim=1), torch.ones(5), atol=1e-5)

@pytest.mark.parametrize('activation', ['linear', 'lrelu'])
def test_fully_connected_matches_equalised_lr_formula(activation):
    torch.manual_seed(0)
    fc = layers.FullyConnectedLayer(6, 5, activation=activation, lr_multiplier=0.01, bias_init=0.5)
    with torch.no_grad():
        fc.bias.add_(torch.randn(5))
    x = torch.randn(3, 6)
    ref = x @ (fc.weight * 0.01 / math.sqrt(6)).t() + fc.bias * 0.01
    if activation == 'lrelu':
        ref = lrelu_ref(ref)
    assert torch.allclose(fc(x), ref, atol=1e-6)

def test_fully_connected_stores_scaled_weights_and_bias_init():
    torch.manual_seed(0)
    fc = layers.FullyConnectedLayer(512, 512, lr_multiplier=0.01, bias_init=1)
    assert abs(fc.weight.std().item() - 100) < 1 # N(0, 1) / lr_multiplier
    assert torch.equal(fc.bias, torch.ones(512))

def test_conv2d_layer_matches_reference():
    torch.manual_seed(0)
    conv = layers.Conv2dLayer(3, 4, kernel_size=3, activation='lrelu', conv_clamp=0.5)
    with torch.no_grad():
        conv.bias.copy_(torch.randn(4))
    x = torch.randn(2, 3, 8, 8)
    ref = F.conv2d(x, conv.weight / math.sqrt(3 * 9), conv.bias, padding=1)
    ref = lrelu_ref(ref, gain=math.sqrt(2) * 0.5, clamp=0.5 * 0.5)
    assert torch.allclose(conv(x, gain=0.5), ref, atol=1e-6)

def test_conv2d_layer_resamples_and_freezes():
    conv = layers.Conv2dLayer(3, 4, kernel_size=3, down=2)
    assert conv(torch.randn(2, 3, 8, 8)).shape == (2, 4, 4, 4)
    conv = layers.Conv2dLayer(3, 4, kernel_size=3, up=2)
    assert conv(torch.randn(2, 3, 8, 8)).shape == (2, 4, 16, 16)
    frozen = layers.Conv2dLayer(3, 4, kernel_size=1, trainable=False)
    assert len(list(frozen.parameters())) == 0
    assert set(frozen.state_dict()) == {'weight', 'bias', 'resample_filter'}

@pytest.mark.parametrize('fused_modconv', [True, False])
@pytest.mark.parametrize('kernel_size', [1, 3, 5])
def test_synthesis_layer_matches_reference(kernel_size, fused_modconv):
    layer = make_synthesis_layer(kernel_size=kernel_size, conv_clamp=0.8)
    x = torch.randn(3, 4, 8, 8)
    w = torch.randn(3, 8)
    styles = w @ (layer.affine.weight / math.sqrt(8)).t() + layer.affine.bias
    ref = modconv_ref(x, layer.weight, styles, padding=kernel_size // 2)
    ref = ref + layer.noise_const * layer.noise_strength
    ref = lrelu_ref(ref + layer.bias.reshape(1, -1, 1, 1), clamp=0.8)
    out = layer(x, w, noise_mode='const', fused_modconv=fused_modconv)
    assert out.shape == (3, 6, 8, 8)
    assert torch.allclose(out, ref, atol=1e-5)

def test_synthesis_layer_noise_modes():
    layer = make_synthesis_layer()
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    assert torch.equal(layer(x, w, noise_mode='const'), layer(x, w, noise_mode='const'))
    assert torch.equal(layer(x, w, noise_mode='none'), layer(x, w, noise_mode='none'))
    assert not torch.equal(layer(x, w, noise_mode='random'), layer(x, w, noise_mode='random'))
    assert not torch.equal(layer(x, w, noise_mode='const'), layer(x, w, noise_mode='none'))
    with torch.no_grad():
        layer.noise_strength.zero_() # StyleGAN2 initialises the strength to zero: noise starts off
    assert torch.equal(layer(x, w, noise_mode='random'), layer(x, w, noise_mode='none'))

@pytest.mark.parametrize('mode', ['nearest', 'bilinear'])
def test_pre_upsample_is_interpolation_then_stride1_conv(mode):
    up = make_synthesis_layer(seed=1, pre_upsample=mode)
    plain = make_synthesis_layer(seed=2)
    plain.load_state_dict(up.state_dict())
    x, w = torch.randn(2, 4, 4, 4), torch.randn(2, 8)
    x2 = F.interpolate(x, scale_factor=2, mode=mode, align_corners=False if mode == 'bilinear' else None)
    assert torch.allclose(up(x, w, noise_mode='const'), plain(x2, w, noise_mode='const'), atol=1e-6)

def test_upsampling_ops_have_equal_parameter_counts():
    """alphaGAN Sec. 6.2: nearest_conv and bilinear_conv have exactly the learnable parameters of deconv."""
    def count(m):
        return sum(p.numel() for p in m.parameters())
    deconv = make_synthesis_layer(up=2)
    nearest = make_synthesis_layer(pre_upsample='nearest')
    bilinear = make_synthesis_layer(pre_upsample='bilinear')
    assert count(deconv) == count(nearest) == count(bilinear) == 8 * 4 + 4 + 6 * 4 * 9 + 1 + 6
    x, w = torch.randn(2, 4, 4, 4), torch.randn(2, 8)
    for layer in [deconv, nearest, bilinear]:
        assert layer(x, w).shape == (2, 6, 8, 8)

def test_deconv_matches_transposed_conv_then_fir():
    """StyleGAN2's up=2 path: transposed conv with stride 2, then the [1,3,3,1] low-pass filter (gain 4)."""
    layer = make_synthesis_layer(up=2, use_noise=False)
    x, w = torch.randn(2, 4, 4, 4), torch.randn(2, 8)
    styles = w @ (layer.affine.weight / math.sqrt(8)).t() + layer.affine.bias
    outs = []
    for i in range(2):
        wi = layer.weight * styles[i].reshape(1, -1, 1, 1)
        wi = wi / (wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        outs.append(F.conv_transpose2d(x[i:i+1], wi.transpose(0, 1), stride=2)) # [1, 6, 9, 9]
    y = torch.cat(outs)
    f = torch.tensor([1., 3., 3., 1.])
    f = (f[:, None] * f[None, :]) / 64 * 4
    y = F.pad(y, [1, 1, 1, 1])
    y = F.conv2d(y.reshape(-1, 1, 11, 11), f[None, None]).reshape(2, 6, 8, 8)
    ref = lrelu_ref(y + layer.bias.reshape(1, -1, 1, 1))
    assert torch.allclose(layer(x, w, fused_modconv=False), ref, atol=1e-5)

def test_synthesis_layer_rejects_two_upsamplings():
    with pytest.raises(AssertionError):
        layers.SynthesisLayer(4, 4, w_dim=8, resolution=8, up=2, pre_upsample='nearest')

def test_torgb_matches_reference():
    torch.manual_seed(0)
    torgb = layers.ToRGBLayer(4, 3, w_dim=8, conv_clamp=0.3)
    with torch.no_grad():
        torgb.bias.copy_(torch.randn(3))
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    styles = (w @ (torgb.affine.weight / math.sqrt(8)).t() + torgb.affine.bias) / math.sqrt(4)
    ref = modconv_ref(x, torgb.weight, styles, demodulate=False) + torgb.bias.reshape(1, -1, 1, 1)
    assert torch.allclose(torgb(x, w), ref.clamp(-0.3, 0.3), atol=1e-6)

#----------------------------------------------------------------------------
