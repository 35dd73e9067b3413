"""Shared machinery of the metrics, after the StyleGAN2-ADA protocol (Karras et al. 2020): options, feature
statistics with an on-disk cache, and feature extraction from datasets and generators."""

import copy
import hashlib
import io
import os

import numpy as np
import torch
import tqdm

import dnnlib
from . import detectors

#----------------------------------------------------------------------------
# Everything a metric needs to know about one evaluation.

class MetricOptions:
    def __init__(self,
        G                   = None,     # G(z, c, **G_kwargs) -> [N, C, H, W] in [-1, 1]; None = measure gen_dataset_kwargs.
        G_kwargs            = {},       # Extra arguments of G, e.g. truncation_psi, noise_mode.
        dataset_kwargs      = {},       # Real data: kwargs of dnnlib.util.construct_class_by_name, with class_name.
        gen_dataset_kwargs  = None,     # A second dataset measured in place of G (dataset-vs-dataset metrics).
        num_gpus            = None,     # Processes taking part; None = torch.distributed world size, or 1.
        rank                = None,     # This process; None = torch.distributed rank, or 0.
        device              = None,     # None = cuda:rank when CUDA is available, else cpu.
        detector            = None,     # Inception-like detector for FID/KID/IS (detectors.py); None = offline default.
        pr_detector         = 'vgg16',  # Detector for precision/recall.
        allow_pickle        = False,    # Permit pickled detectors (they run code when loaded).
        batch_size          = 64,       # Images per detector call, per process.
        batch_gen           = None,     # Images per generator call (micro-batch); None = batch_size.
        num_workers         = None,     # DataLoader workers; None = 3 with CUDA, else 0.
        cache               = True,     # Cache dataset statistics on disk.
        cache_dir           = None,     # Where; None = dnnlib.util.cache_dir('metrics').
        progress            = False,    # Show tqdm progress bars on rank 0.
        seed                = 0,        # Seed of latents, labels and KID subsets.
    ):
        dist = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.num_gpus = num_gpus if num_gpus is not None else (torch.distributed.get_world_size() if dist else 1)
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if dist else 0)
        assert 0 <= self.rank < self.num_gpus
        if device is None:
            device = torch.device('cuda', self.rank) if torch.cuda.is_available() else torch.device('cpu')
        self.device = torch.device(device)
        self.G = G
        self.G_kwargs = dnnlib.EasyDict(G_kwargs)
        self.dataset_kwargs = dnnlib.EasyDict(dataset_kwargs)
        self.gen_dataset_kwargs = dnnlib.EasyDict(gen_dataset_kwargs) if gen_dataset_kwargs is not None else None
        self.detector = detector
        self.pr_detector = pr_detector
        self.allow_pickle = allow_pickle
        self.batch_size = batch_size
        self.batch_gen = batch_gen if batch_gen is not None else batch_size
        self.num_workers = num_workers if num_workers is not None else (3 if self.device.type == 'cuda' else 0)
        self.cache = cache
        self.cache_dir = cache_dir if cache_dir is not None else dnnlib.util.cache_dir('metrics')
        self.progress = progress
        self.seed = seed

    def get_detector(self, pr=False):
        spec = self.pr_detector if pr else self.detector
        return detectors.get_feature_detector(spec, device=self.device, allow_pickle=self.allow_pickle,
                                              verbose=self.progress)

#----------------------------------------------------------------------------
# Running feature statistics: every feature (capture_all) and/or float64 sums for mean and covariance.

class FeatureStats:
    def __init__(self, capture_all=False, capture_mean_cov=False, max_items=None):
        self.capture_all = capture_all
        self.capture_mean_cov = capture_mean_cov
        self.max_items = max_items
        self.num_items = 0
        self.num_features = None
        self.all_features = []
        self.raw_mean = None
        self.raw_cov = None

    def is_full(self):
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x):
        x = np.asarray(x, dtype=np.float32)
        assert x.ndim == 2
        if self.max_items is not None:
            x = x[:max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        if self.num_features is None:
            self.num_features = x.shape[1]
            self.raw_mean = np.zeros([self.num_features], dtype=np.float64)
            self.raw_cov = np.zeros([self.num_features, self.num_features], dtype=np.float64)
        assert x.shape[1] == self.num_features
        self.num_items += x.shape[0]
        if self.capture_all:
            self.all_features.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            self.raw_mean += x64.sum(axis=0)
            self.raw_cov += x64.T @ x64

    def append_torch(self, x, num_gpus=1):
        """Append [N, D] features of this rank; with several ranks, all of them, interleaved in item order."""
        assert isinstance(x, torch.Tensor) and x.ndim == 2
        if num_gpus > 1:
            parts = [torch.empty_like(x) for _ in range(num_gpus)]
            torch.distributed.all_gather(parts, x.contiguous())
            x = torch.stack(parts, dim=1).flatten(0, 1) # rank r holds items r, r + num_gpus, ...
        self.append(x.cpu().numpy())

    def get_all(self):
        assert self.capture_all
        if not self.all_features:
            return np.zeros([0, self.num_features or 0], dtype=np.float32)
        return np.concatenate(self.all_features, axis=0)

    def get_mean_cov(self):
        """Mean and (biased, 1/N) covariance, as StyleGAN2-ADA computes them."""
        assert self.capture_mean_cov and self.num_items > 0
        mean = self.raw_mean / self.num_items
        cov = self.raw_cov / self.num_items - np.outer(mean, mean)
        return mean, cov

    def to_arrays(self):
        return dict(
            capture_all=np.array(self.capture_all), capture_mean_cov=np.array(self.capture_mean_cov),
            max_items=np.array(-1 if self.max_items is None else self.max_items), num_items=np.array(self.num_items),
            num_features=np.array(-1 if self.num_features is None else self.num_features),
            all_features=self.get_all() if self.capture_all else np.zeros([0, 0], dtype=np.float32),
            raw_mean=self.raw_mean if self.raw_mean is not None else np.zeros([0]),
            raw_cov=self.raw_cov if self.raw_cov is not None else np.zeros([0, 0]),
        )

    @staticmethod
    def from_arrays(a):
        max_items = int(a['max_items'])
        stats = FeatureStats(capture_all=bool(a['capture_all']), capture_mean_cov=bool(a['capture_mean_cov']),
                             max_items=None if max_items < 0 else max_items)
        stats.num_items = int(a['num_items'])
        num_features = int(a['num_features'])
        if num_features >= 0:
            stats.num_features = num_features
            stats.raw_mean = np.asarray(a['raw_mean'], dtype=np.float64)
            stats.raw_cov = np.asarray(a['raw_cov'], dtype=np.float64)
            if stats.capture_all:
                stats.all_features = [np.asarray(a['all_features'], dtype=np.float32)]
                assert stats.all_features[0].shape == (stats.num_items, num_features)
            assert stats.raw_mean.shape == (num_features,) and stats.raw_cov.shape == (num_features, num_features)
        return stats

#----------------------------------------------------------------------------
# Statistics cache files: an .npz of FeatureStats arrays plus an MD5 checksum over them, written
# atomically. A file that fails to load or whose checksum disagrees is reported and rebuilt.

def _arrays_checksum(arrays):
    md5 = hashlib.md5()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        md5.update(f'{name}:{value.dtype.str}:{value.shape}'.encode('utf-8'))
        md5.update(value.tobytes())
    return md5.hexdigest()

def save_stats(stats, path):
    arrays = stats.to_arrays()
    buf = io.BytesIO()
    np.savez(buf, checksum=np.array(_arrays_checksum(arrays)), **arrays)
    with dnnlib.util.atomic_write(path) as f:
        f.write(buf.getvalue())

def load_stats(path):
    """FeatureStats from a cache file, or None when the file is missing, unreadable or corrupted."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        checksum = str(arrays.pop('checksum'))
        if checksum != _arrays_checksum(arrays):
            raise ValueError('checksum mismatch')
        return FeatureStats.from_arrays(arrays)
    except Exception as err:
        print(f'Statistics cache {path} is corrupted ({type(err).__name__}: {err}); rebuilding it.')
        return None

#----------------------------------------------------------------------------
# Dataset fingerprint for cache keys: the file's MD5 (a zip or .npy), or names, sizes and mtimes of
# a directory's files. Memoised per process by (path, size, mtime).

_fingerprint_cache = dict() # (abspath, size, mtime_ns) -> hex digest

def dataset_fingerprint(path):
    if path is None or not os.path.exists(path):
        return None
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _fingerprint_cache:
        if os.path.isfile(path):
            _fingerprint_cache[key] = detectors.file_md5(path)
        else:
            md5 = hashlib.md5()
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    file = os.path.join(root, name)
                    fst = os.stat(file)
                    md5.update(f'{os.path.relpath(file, path)}:{fst.st_size}:{fst.st_mtime_ns}\n'.encode('utf-8'))
            _fingerprint_cache[key] = md5.hexdigest()
    return _fingerprint_cache[key]

def stats_cache_file(opts, dataset, dataset_kwargs, detector, mode, stats_kwargs):
    kwargs = {k: v for k, v in dataset_kwargs.items() if k != 'path'} # the path's content is in the fingerprint
    args = dict(fingerprint=dataset_fingerprint(dataset_kwargs.get('path')), dataset_kwargs=kwargs,
                detector=detector.digest, mode=mode, stats_kwargs=stats_kwargs)
    md5 = hashlib.md5(repr(sorted(args.items())).encode('utf-8')).hexdigest()
    name = getattr(dataset, 'name', None) or 'dataset'
    return os.path.join(opts.cache_dir, f'{name}-{detector.name}-{mode}-{md5}.npz')

#----------------------------------------------------------------------------
# Small collective helpers; single-process use needs no torch.distributed.

def broadcast_flag(flag, opts):
    if opts.num_gpus == 1:
        return flag
    t = torch.as_tensor(float(flag), dtype=torch.float32, device=opts.device)
    torch.distributed.broadcast(t, src=0)
    return float(t.cpu()) != 0

def _detect(detector, images, mode):
    return detector(images) if mode == 'features' else detector.probs(images)

def progress_bar(opts, total, desc, unit='img'):
    return tqdm.tqdm(total=total, desc=desc, unit=unit, disable=not (opts.progress and opts.rank == 0), leave=False)

#----------------------------------------------------------------------------
# Features of a dataset (the first max_items items), cached on disk by dataset fingerprint,
# dataset kwargs, detector file and options. Rank r measures items r, r + num_gpus, ...

def downsample_images(images, resolution):
    """uint8 [N, C, H, W] images average-pooled to resolution x resolution (H a multiple of it), rounded to uint8: real
    images at the side of a smaller generator's output, as the search's shared D sees them (AutoGAN's stages)."""
    factor = images.shape[-1] // resolution
    assert images.shape[-1] == factor * resolution and images.shape[-2] == images.shape[-1]
    return torch.nn.functional.avg_pool2d(images.float(), factor).round().clamp(0, 255).to(torch.uint8)

def compute_feature_stats_for_dataset(opts, detector, mode='features', max_items=None, dataset_kwargs=None,
                                      resolution=None, **stats_kwargs):
    """Statistics of the dataset's images, or of them average-pooled to `resolution` (None = as stored)."""
    assert mode in ['features', 'probs']
    dataset_kwargs = dnnlib.EasyDict(dataset_kwargs if dataset_kwargs is not None else opts.dataset_kwargs)
    dataset = dnnlib.util.construct_class_by_name(**dataset_kwargs)
    num_items = len(dataset) if max_items is None else min(len(dataset), max_items)
    if num_items == 0:
        raise dnnlib.UserError(f'dataset {dataset_kwargs.get("path", "")} has no images')
    if resolution == dataset.resolution:
        resolution = None
    if resolution is not None and dataset.resolution % resolution != 0:
        raise dnnlib.UserError(f'dataset {dataset_kwargs.get("path", "")}: {dataset.resolution} px images cannot be '
                               f'average-pooled to {resolution} px')

    # Look up the cache; rank 0 decides for everyone.
    cache_file = None
    if opts.cache:
        stats_kwargs_key = dict(stats_kwargs, max_items=num_items)
        if resolution is not None:
            stats_kwargs_key['resolution'] = resolution
        cache_file = stats_cache_file(opts, dataset, dataset_kwargs, detector, mode, stats_kwargs_key)
        stats = load_stats(cache_file) if opts.rank == 0 else None
        if broadcast_flag(stats is not None, opts):
            return stats if stats is not None else load_stats(cache_file)

    # Measure.
    stats = FeatureStats(max_items=num_items, **stats_kwargs)
    item_subset = [(i * opts.num_gpus + opts.rank) % num_items for i in range((num_items - 1) // opts.num_gpus + 1)]
    # The loader's own generator: a DataLoader draws its workers' base seed from the global RNG otherwise, so a
    # search or training run would continue differently after a measured pass than after a cached one.
    loader = torch.utils.data.DataLoader(dataset=dataset, sampler=item_subset, batch_size=opts.batch_size,
                                         num_workers=opts.num_workers, pin_memory=(opts.device.type == 'cuda'),
                                         generator=torch.Generator().manual_seed(0))
    with progress_bar(opts, num_items, f'{getattr(dataset, "name", "dataset")} features') as bar:
        for images, _labels in loader:
            if resolution is not None:
                images = downsample_images(images, resolution)
            stats.append_torch(_detect(detector, images, mode), num_gpus=opts.num_gpus)
            bar.update(stats.num_items - bar.n)

    # Save.
    if cache_file is not None and opts.rank == 0:
        save_stats(stats, cache_file)
    return stats

#----------------------------------------------------------------------------
# Generated images as uint8 [N, C, H, W], batch_size per step on each rank, G run in micro-batches of
# batch_gen. Latents and labels come from a generator seeded by (seed, rank); labels are drawn from the
# dataset when G is conditional.

def random_labels(G, label_dataset, rnd, n, device):
    """c [n, c_dim]: labels of random dataset items (drawn with the RandomState `rnd`) for a conditional G."""
    c_dim = getattr(G, 'c_dim', 0)
    if c_dim == 0:
        return torch.zeros([n, 0], device=device)
    if label_dataset is None or getattr(label_dataset, 'label_dim', 0) != c_dim:
        raise dnnlib.UserError(f'generator is conditional (c_dim={c_dim}) but the dataset has no labels of that size')
    c = np.stack([label_dataset.get_label(rnd.randint(len(label_dataset))) for _ in range(n)])
    return torch.from_numpy(c.astype(np.float32)).to(device)

def iterate_generator_images(opts, G, num_steps, label_dataset=None):
    rnd = np.random.RandomState([opts.seed, opts.rank])
    for _step in range(num_steps):
        images = []
        for start in range(0, opts.batch_size, opts.batch_gen):
            n = min(opts.batch_gen, opts.batch_size - start)
            z = torch.from_numpy(rnd.randn(n, G.z_dim).astype(np.float32)).to(opts.device)
            c = random_labels(G, label_dataset, rnd, n, opts.device)
            img = G(z, c, **opts.G_kwargs)
            assert img.ndim == 4 and img.shape[0] == n, f'generator returned {list(img.shape)} for {n} latents'
            images.append((img * 127.5 + 128).clamp(0, 255).to(torch.uint8))
        yield torch.cat(images)

#----------------------------------------------------------------------------
# Features of num_gen generated images (or of a second dataset when opts.G is None).

def compute_feature_stats_for_generator(opts, detector, num_gen, mode='features', **stats_kwargs):
    assert mode in ['features', 'probs']
    if opts.G is None:
        assert opts.gen_dataset_kwargs is not None, 'MetricOptions needs G or gen_dataset_kwargs'
        return compute_feature_stats_for_dataset(opts, detector, mode=mode, max_items=num_gen,
                                                 dataset_kwargs=opts.gen_dataset_kwargs, **stats_kwargs)

    G = opts.G
    if isinstance(G, torch.nn.Module):
        G = copy.deepcopy(G).eval().requires_grad_(False).to(opts.device)
    label_dataset = None
    if getattr(G, 'c_dim', 0) > 0:
        label_dataset = dnnlib.util.construct_class_by_name(**opts.dataset_kwargs)

    stats = FeatureStats(max_items=num_gen, **stats_kwargs)
    num_steps = -(-num_gen // (opts.batch_size * opts.num_gpus))
    with torch.no_grad(), progress_bar(opts, num_gen, 'generator features') as bar:
        for images in iterate_generator_images(opts, G, num_steps, label_dataset):
            stats.append_torch(_detect(detector, images, mode), num_gpus=opts.num_gpus)
            bar.update(stats.num_items - bar.n)
    assert stats.is_full()
    return stats

#----------------------------------------------------------------------------
