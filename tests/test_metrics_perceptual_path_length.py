"""Perceptual path length (metrics/perceptual_path_length.py). With a stand-in LPIPS network whose features are the
pixels themselves, a path's distance over epsilon^2 is the squared norm of the image's derivative along the path,
which torch.autograd.functional.jvp gives independently."""

import json
import os

import numpy as np
import pytest
import torch

from metrics import metric_main, metric_utils, perceptual_path_length as ppl
from nas.backbones import conventional
from training import networks_stylegan2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

class PixelLPIPS(torch.nn.Module):
    """NVIDIA's vgg16.pt interface; LPIPS features = pixels in [0, 255]."""
    def forward(self, img: torch.Tensor, resize_images: bool = True, return_features: bool = False,
                return_lpips: bool = False):
        assert not resize_images and return_lpips
        return img.flatten(1)

def tiny_G():
    torch.manual_seed(0)
    G = networks_stylegan2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.zero_() # the derivative below is the path's alone
    return G.eval().requires_grad_(False)

#----------------------------------------------------------------------------

def test_slerp_stays_on_the_sphere_between_its_ends():
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    n = lambda x: x / x.norm(dim=-1, keepdim=True)
    assert torch.allclose(ppl.slerp(a, b, torch.zeros(5, 1)), n(a), atol=1e-6)
    assert torch.allclose(ppl.slerp(a, b, torch.ones(5, 1)), n(b), atol=1e-5)
    mid = ppl.slerp(a, b, torch.full([5, 1], 0.5))
    assert torch.allclose(mid.norm(dim=-1), torch.ones(5), atol=1e-6)
    assert torch.allclose((mid * n(a)).sum(-1), (mid * n(b)).sum(-1), atol=1e-5) # equal angles to both ends

@pytest.mark.parametrize('space,sampling', [('w', 'end'), ('w', 'full'), ('z', 'full')])
def test_path_distance_is_the_squared_derivative_along_the_path(space, sampling):
    G = tiny_G()
    z0, z1 = torch.randn(4, 8), torch.randn(4, 8)
    c = torch.zeros([4, 0])
    t = torch.rand(4) if sampling == 'full' else torch.zeros(4)
    got = ppl.path_distances(G, PixelLPIPS(), z0, z1, c, t, epsilon=1e-3, space=space)
    def image_at(s): # s: [4] path positions -> images in [0, 255]
        if space == 'w':
            w0, w1 = G.mapping(z0, c), G.mapping(z1, c)
            return (G.synthesis(w0.lerp(w1, s[:, None, None]), noise_mode='const') + 1) * 127.5
        return (G(ppl.slerp(z0, z1, s[:, None]), c, noise_mode='const') + 1) * 127.5
    _, derivative = torch.autograd.functional.jvp(image_at, t, torch.ones(4))
    expected = derivative.flatten(1).square().sum(1)
    assert got.shape == (4,) and torch.allclose(got, expected, rtol=0.03)

def test_crop_and_downsampling_follow_stylegan():
    """crop keeps rows 3/8..7/8 and columns 2/8..6/8; above 256 px images are 2x2-box-averaged to 256."""
    seen = []
    class Recorder(PixelLPIPS):
        def forward(self, img: torch.Tensor, resize_images: bool = True, return_features: bool = False,
                    return_lpips: bool = False):
            seen.append(img.shape)
            return img.flatten(1)
    class Flat(torch.nn.Module):
        c_dim, z_dim = 0, 8
        def forward(self, z, c, **kwargs):
            return torch.zeros([z.shape[0], 1, 512, 512])
    ppl.path_distances(Flat(), Recorder(), torch.randn(2, 8), torch.randn(2, 8), torch.zeros([2, 0]), torch.zeros(2),
                       1e-4, 'z', crop=True)
    ppl.path_distances(Flat(), Recorder(), torch.randn(2, 8), torch.randn(2, 8), torch.zeros([2, 0]), torch.zeros(2),
                       1e-4, 'z', crop=False)
    assert seen == [(4, 3, 256, 256), (4, 3, 256, 256)] # 512 cropped to 256 x 256; or 512 averaged down

def test_ppl_leaves_out_the_extreme_percentiles():
    # Of 1,000 sorted values the 1st percentile ('lower') is the one at index 9, the 99th ('higher') at index 990.
    dist = np.concatenate([np.arange(1, 996, dtype=np.float64), [1e9] * 5])
    assert ppl.ppl_from_distances(dist) == np.arange(10, 992).mean()
    dist = np.random.RandomState(0).permutation(np.concatenate([[-1e9] * 5, np.arange(1, 996, dtype=np.float64)]))
    assert ppl.ppl_from_distances(dist) == np.arange(5, 987).mean()

#----------------------------------------------------------------------------

def test_compute_ppl_is_reproducible_and_registered(tmp_path):
    torch.jit.save(torch.jit.script(PixelLPIPS()), str(tmp_path / 'vgg16.pt'))
    G = tiny_G()
    opts = lambda seed: metric_utils.MetricOptions(G=G, pr_detector=str(tmp_path / 'vgg16.pt'), device='cpu',
                                                   batch_size=8, seed=seed, cache=False)
    a, b, c = [ppl.compute_ppl(opts(s), num_samples=10, epsilon=1e-4, space='w', sampling='end', crop=False)
               for s in [0, 0, 1]]
    assert a == b and a != c and np.isfinite(a) and a > 0
    assert {'ppl2_wend', 'ppl_zfull', 'ppl_wfull', 'ppl_zend', 'ppl_wend'} <= set(metric_main.list_valid_metrics())

def test_w_space_needs_a_stylegan2_generator_and_lpips(tmp_path):
    with open(os.path.join(ROOT, 'nas', 'genotypes', 'alphagan_s_cifar10.json')) as f:
        G = conventional.Generator(json.load(f), z_dim=8, img_resolution=16, g_channels=8)
    torch.jit.save(torch.jit.script(PixelLPIPS()), str(tmp_path / 'vgg16.pt'))
    opts = metric_utils.MetricOptions(G=G, pr_detector=str(tmp_path / 'vgg16.pt'), device='cpu', batch_size=4)
    with pytest.raises(ppl.MetricSkipped, match='needs a StyleGAN2 generator'):
        ppl.compute_ppl(opts, num_samples=4, epsilon=1e-4, space='w', sampling='end', crop=False)
    assert ppl.compute_ppl(opts, num_samples=4, epsilon=1e-4, space='z', sampling='full', crop=False) > 0
    class NoLPIPS(torch.nn.Module):
        def forward(self, img: torch.Tensor, return_features: bool = False):
            return img.flatten(1)
    torch.jit.save(torch.jit.script(NoLPIPS()), str(tmp_path / 'features.pt'))
    opts = metric_utils.MetricOptions(G=tiny_G(), pr_detector=str(tmp_path / 'features.pt'), device='cpu', batch_size=4)
    with pytest.raises(ppl.MetricSkipped, match='has no LPIPS output'):
        ppl.compute_ppl(opts, num_samples=4, epsilon=1e-4, space='w', sampling='end', crop=False)

#----------------------------------------------------------------------------
