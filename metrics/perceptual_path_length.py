"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", Sec. 4.2): the LPIPS
distance between images at latents epsilon apart on random interpolation paths, over epsilon^2, as StyleGAN2-ADA
measures it (VGG16 LPIPS, 1st-99th percentile mean)."""

import copy

import numpy as np
import torch

import dnnlib
from . import metric_utils
from .inception_score import MetricSkipped

#----------------------------------------------------------------------------
# Spherical interpolation of latents in Z (their prior is a Gaussian, so paths go along the sphere).

def _normalize(x):
    return x / x.norm(dim=-1, keepdim=True)

def slerp(a, b, t):
    a, b = _normalize(a), _normalize(b)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = t * torch.acos(d)
    c = _normalize(b - d * a)
    return _normalize(a * torch.cos(p) + c * torch.sin(p))

#----------------------------------------------------------------------------
# Distances of one batch of paths: z0, z1 [N, z_dim], c [N, c_dim], t [N]. 'w' interpolates linearly between the
# mapped ws, 'z' spherically between the latents. crop: the central face region StyleGAN uses for FFHQ; images
# above 256 px are box-downsampled to 256, as LPIPS was calibrated there. lpips(img, resize_images, return_lpips)
# is NVIDIA's VGG16 TorchScript interface.

def path_distances(G, lpips, z0, z1, c, t, epsilon, space, crop=False):
    assert space in ['w', 'z']
    if space == 'w':
        w0, w1 = G.mapping(torch.cat([z0, z1]), torch.cat([c, c])).chunk(2)
        ws = torch.cat([w0.lerp(w1, t[:, None, None]), w0.lerp(w1, t[:, None, None] + epsilon)])
        img = G.synthesis(ws, noise_mode='const', force_fp32=True)
    else:
        z = torch.cat([slerp(z0, z1, t[:, None]), slerp(z0, z1, t[:, None] + epsilon)])
        img = G(z, torch.cat([c, c]), noise_mode='const', force_fp32=True)
    if crop:
        s = img.shape[2] // 8
        img = img[:, :, s * 3 : s * 7, s * 2 : s * 6]
    factor = img.shape[2] // 256
    if factor > 1:
        img = img.reshape([-1, img.shape[1], img.shape[2] // factor, factor, img.shape[3] // factor, factor]).mean([3, 5])
    img = (img + 1) * (255 / 2)
    if img.shape[1] == 1:
        img = img.repeat([1, 3, 1, 1])
    lpips_t0, lpips_t1 = lpips(img, resize_images=False, return_lpips=True).chunk(2)
    return (lpips_t0 - lpips_t1).square().sum(dim=1) / epsilon ** 2

def ppl_from_distances(dist):
    """Mean of the distances between their 1st and 99th percentiles (the rare huge jumps are left out)."""
    dist = np.asarray(dist, dtype=np.float64)
    lo = np.percentile(dist, 1, method='lower')
    hi = np.percentile(dist, 99, method='higher')
    return float(dist[(dist >= lo) & (dist <= hi)].mean())

#----------------------------------------------------------------------------

def compute_ppl(opts, num_samples, epsilon, space, sampling, crop):
    """PPL of opts.G over num_samples paths; 'end' sampling measures at the paths' start (t = 0), 'full' anywhere."""
    assert sampling in ['full', 'end']
    G = copy.deepcopy(opts.G).eval().requires_grad_(False).float().to(opts.device)
    if space == 'w' and not (hasattr(G, 'mapping') and hasattr(G, 'synthesis')):
        raise MetricSkipped(f'path length in W needs a StyleGAN2 generator; {type(G).__name__} has no W space')
    detector = opts.get_detector(pr=True)
    if not detector.has_lpips:
        raise MetricSkipped(f'detector {detector.name} has no LPIPS output; pass --pr-detector=vgg16 '
                            f'(NVIDIA vgg16.pt) to compute the perceptual path length')
    label_dataset = dnnlib.util.construct_class_by_name(**opts.dataset_kwargs) if G.c_dim > 0 else None
    noise_maps = [buf for name, buf in G.named_buffers() if name.endswith('noise_const')]

    # Sample paths on this process, batch_gen images (half as many paths) per step.
    rnd = np.random.RandomState([opts.seed, opts.rank])
    generator = torch.Generator(opts.device).manual_seed(int(rnd.randint(2 ** 31)))
    num_paths = max(opts.batch_gen // 2, 1)
    num_steps = -(-num_samples // (num_paths * opts.num_gpus))
    dist = metric_utils.FeatureStats(capture_all=True, max_items=num_samples)
    with torch.no_grad(), metric_utils.progress_bar(opts, num_samples, 'path lengths', unit='path') as bar:
        for _step in range(num_steps):
            for buf in noise_maps: # fresh noise per step, the same at both ends of a path
                buf.copy_(torch.randn(buf.shape, generator=generator, device=opts.device))
            z0, z1 = torch.from_numpy(rnd.randn(2, num_paths, G.z_dim).astype(np.float32)).to(opts.device)
            t = torch.from_numpy(rnd.uniform(size=num_paths).astype(np.float32) * (sampling == 'full')).to(opts.device)
            c = metric_utils.random_labels(G, label_dataset, rnd, num_paths, opts.device)
            d = path_distances(G, detector.module, z0, z1, c, t, epsilon, space, crop)
            dist.append_torch(d[:, None], num_gpus=opts.num_gpus)
            bar.update(dist.num_items - bar.n)
    if opts.rank != 0:
        return float('nan')
    return ppl_from_distances(dist.get_all()[:, 0])

#----------------------------------------------------------------------------
