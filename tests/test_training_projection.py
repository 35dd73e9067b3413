"""Projection into W (training/projection.py) and style mixing (training/sampling.py) on tiny StyleGAN2 generators,
plain and with a dynamic-W genotype."""

import numpy as np
import pytest
import torch

from dnnlib.util import UserError
from nas.backbones import stylegan2
from training import projection, sampling

DYNW = dict(format_version=1, backbone='stylegan2', mode='micro_dynw', resolution=16,
    channels=dict(channel_base=64, channel_max=8, num_mapping_layers=3),
    ops=dict(normal=['conv_3x3'], up=['deconv']), w_idx=[3, 1, 3, 2, 1, 3], provenance=dict(method='alphagan'))

def tiny_G(genotype=None, c_dim=0):
    torch.manual_seed(1)
    G = stylegan2.Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=3), synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0),
        genotype=genotype)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.3)
    return G.eval().requires_grad_(False)

def target_of(G, seed):
    with torch.no_grad():
        img = G(sampling.seed_latents([seed], G.z_dim, 'cpu'), torch.zeros([1, G.c_dim]), noise_mode='const')
    return ((img[0] + 1) * 127.5).clamp(0, 255).round()

#----------------------------------------------------------------------------

def test_latent_layout_has_one_w_per_mapping_layer_read():
    layers, slot_latent = projection.latent_layout(tiny_G())
    assert layers == [2] and slot_latent.tolist() == [0] * 6
    layers, slot_latent = projection.latent_layout(tiny_G(DYNW))
    assert layers == [0, 1, 2] and slot_latent.tolist() == [2, 0, 2, 1, 0, 2]

def test_w_statistics_match_the_mapping_outputs():
    G = tiny_G(DYNW)
    w_avg, w_std = projection.w_statistics(G, [0, 2], torch.zeros([1, 0]), num_samples=300, batch_size=128)
    z = torch.from_numpy(np.random.RandomState(123).randn(300, 8)).float()
    ws = G.mapping(z, None, return_all_layers=True)[:, [0, 2], 0] # [N, 2, w_dim]
    assert torch.allclose(w_avg, ws.mean(0), atol=1e-6)
    expected = torch.tensor([np.sqrt(((w - w.mean(0)) ** 2).sum() / 300) for w in ws.numpy().transpose(1, 0, 2)])
    assert torch.allclose(w_std, expected, rtol=1e-5)

def test_noise_regularization_of_constant_maps():
    # A constant map has autocorrelation 1 at every shift and scale: two terms of 1 per pyramid level (16, 8).
    assert float(projection.noise_regularization([torch.ones(16, 16)])) == 4
    assert float(projection.noise_regularization([torch.ones(16, 16), torch.ones(4, 4)])) == 6
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(8)] for i in range(8)]) # autocorrelation -1 at shift 1
    assert float(projection.noise_regularization([checker])) == 2

@pytest.mark.parametrize('genotype', [None, DYNW])
def test_projection_approaches_a_generated_target_and_leaves_G_alone(genotype):
    G = tiny_G(genotype)
    before = {name: t.clone() for name, t in G.state_dict().items()}
    result = projection.project(G, target_of(G, 5), num_steps=150, w_avg_samples=500)
    assert result.ws.shape == (150, 6, 8) and len(result.distances) == 150
    assert result.distances[-1] < 0.4 * result.distances[0]
    assert sorted(result.noise) == sorted(n for n, _ in G.synthesis.named_buffers() if n.endswith('noise_const'))
    for noise in result.noise.values(): # renormalised after every step
        assert abs(float(noise.mean())) < 1e-5 and abs(float(noise.square().mean()) - 1) < 1e-4
    # Slots that read the same mapping layer share one w.
    _layers, slot_latent = projection.latent_layout(G)
    for j in range(6):
        for k in range(6):
            assert torch.equal(result.ws[-1, j], result.ws[-1, k]) == bool(slot_latent[j] == slot_latent[k])
    assert all(torch.equal(t, before[name]) for name, t in G.state_dict().items())

def test_projection_is_reproducible_by_seed():
    G = tiny_G()
    a, b, c = [projection.project(G, target_of(G, 5), num_steps=5, w_avg_samples=100, seed=s) for s in [1, 1, 2]]
    assert torch.equal(a.ws, b.ws) and not torch.equal(a.ws, c.ws)

def test_lpips_features_call_the_vgg16_file_convention():
    calls = []
    def vgg16(images, resize_images, return_lpips):
        calls.append((tuple(images.shape), resize_images, return_lpips, float(images.max())))
        return images.flatten(1)
    features = projection.LPIPSFeatures(vgg16)
    out = features(torch.full([2, 1, 512, 512], 200.0))
    assert calls == [((2, 3, 256, 256), False, True, 200.0)] and out.shape == (2, 3 * 256 * 256)

def test_projected_w_round_trip_sets_noise_and_checks_shapes(tmp_path):
    G = tiny_G(DYNW)
    result = projection.project(G, target_of(G, 5), num_steps=3, w_avg_samples=100)
    path = str(tmp_path / 'projected_w.npz')
    projection.save_projected_w(path, result.ws[-1:], result.noise)
    G2 = tiny_G(DYNW)
    ws = projection.load_projected_w(path, G2, 'cpu')
    assert torch.equal(ws, result.ws[-1:])
    buffers = dict(G2.synthesis.named_buffers())
    assert all(torch.equal(buffers[name], noise) for name, noise in result.noise.items())
    np.savez(str(tmp_path / 'wrong.npz'), w=np.zeros([1, 7, 8], dtype=np.float32))
    with pytest.raises(UserError, match=r'--projected-w: .*wrong.npz has w of shape \[1, 7, 8\]; this network takes '
                                        r'\[N, 6, 8\]'):
        projection.load_projected_w(str(tmp_path / 'wrong.npz'), G2, 'cpu')
    (tmp_path / 'broken.npz').write_bytes(b'PK\x03\x04 not really')
    with pytest.raises(UserError, match='--projected-w: cannot read .*broken.npz as an .npz file'):
        projection.load_projected_w(str(tmp_path / 'broken.npz'), G2, 'cpu')

#----------------------------------------------------------------------------

@pytest.mark.parametrize('genotype', [None, DYNW])
def test_style_mixing_takes_the_chosen_slots_from_the_column_seed(genotype):
    G = tiny_G(genotype)
    rows, cols, mixed = sampling.style_mixing_images(G, [1, 2], [3, 4, 5], [0, 1, 4], truncation_psi=0.7)
    assert rows.shape == (2, 3, 16, 16) and cols.shape == (3, 3, 16, 16) and mixed.shape == (2, 3, 3, 16, 16)
    ws = G.mapping(sampling.seed_latents([2, 4], 8, 'cpu'), None, truncation_psi=0.7)
    expected_ws = ws[:1].clone()
    expected_ws[:, [0, 1, 4]] = ws[1:, [0, 1, 4]]
    expected = G.synthesis(expected_ws, noise_mode='const')
    assert torch.allclose(mixed[1, 1], expected[0], atol=1e-5)
    assert torch.allclose(rows[1], G.synthesis(ws[:1], noise_mode='const')[0], atol=1e-5)
    everything = sampling.style_mixing_images(G, [1], [3], list(range(6)))
    assert torch.allclose(everything[2][0, 0], everything[1][0], atol=1e-5) # all slots mixed: the column image

def test_style_mixing_and_projection_refuse_what_they_cannot_do():
    with pytest.raises(UserError, match=r'--styles: 6 is out of range; this network has 6 ws \(0-5\)'):
        sampling.style_mixing_images(tiny_G(), [1], [2], [0, 6])
    with pytest.raises(UserError, match='--class: the network is conditional'):
        sampling.style_mixing_images(tiny_G(c_dim=3), [1], [2], [0])
    with pytest.raises(UserError, match='--network: projection needs a StyleGAN2 generator'):
        sampling.require_styles(torch.nn.Linear(1, 1), 'projection')

#----------------------------------------------------------------------------
