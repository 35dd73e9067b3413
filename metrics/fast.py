"""Search-time FID and Inception Score on a few thousand samples with real statistics computed once, as the
AutoGAN reward (Gong et al. 2019) and for alphaGAN model selection (Tian et al. 2020)."""

import time

import numpy as np
import torch

import dnnlib
from . import frechet_inception_distance
from . import inception_score
from . import metric_utils

#----------------------------------------------------------------------------
# Quick evaluator. The real mean/covariance come from the dataset once (and from the on-disk stats
# cache on later runs); each call then costs only num_gen generated images through the detector.
#
#   evaluator = FastEvaluator(dataset_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=...))
#   result = evaluator(G, num_gen=2000)   # EasyDict(fid=..., is_mean=..., is_std=..., num_gen=..., time=...)
#
# is_mean and is_std are None when the detector has no logits (the offline default); pass
# detector='inception' for an IS reward.

class FastEvaluator:
    def __init__(self,
        dataset_kwargs  = None,     # Real data, kwargs of construct_class_by_name (also the labels of a conditional G).
        real_stats      = None,     # Path of an .npz with arrays mu and sigma, used instead of a dataset pass.
        num_gen         = 2000,     # Generated images per call unless the call says otherwise.
        max_real        = None,     # Real images in the reference statistics; None = all.
        num_splits      = 10,       # Inception Score splits.
        detector        = None,     # Detector spec (metrics/detectors.py); None = offline default.
        device          = None,     # None = CUDA when available, else CPU.
        batch_size      = 64,       # Images per detector call.
        batch_gen       = None,     # Images per generator call; None = batch_size.
        cache           = True,     # Keep the real statistics in the on-disk stats cache.
        cache_dir       = None,     # None = dnnlib.util.cache_dir('metrics').
        progress        = False,    # tqdm bars.
        allow_pickle    = False,    # Permit a pickled detector.
    ):
        self.opts = metric_utils.MetricOptions(dataset_kwargs=dataset_kwargs or {}, num_gpus=1, rank=0, device=device,
            detector=detector, batch_size=batch_size, batch_gen=batch_gen, cache=cache, cache_dir=cache_dir,
            progress=progress, allow_pickle=allow_pickle)
        if dataset_kwargs is None and real_stats is None:
            raise dnnlib.UserError('FastEvaluator needs dataset_kwargs or real_stats')
        self.num_gen = num_gen
        self.max_real = max_real
        self.num_splits = num_splits
        self.detector = self.opts.get_detector()
        self._file_stats = load_reference_stats(real_stats) if real_stats is not None else None # (mu, sigma)
        self._real = dict() # {resolution: (mu, sigma)} computed from the dataset
        self._label_dataset = None

    def real_stats(self, resolution=None):
        """(mu, sigma) of the real features, computed on first use: of the images as stored, or average-pooled to
        `resolution` for a generator of smaller output (AutoGAN's stage-0/1 children). Statistics given as a file
        serve every resolution."""
        if self._file_stats is not None:
            return self._file_stats
        if resolution not in self._real:
            stats = metric_utils.compute_feature_stats_for_dataset(self.opts, self.detector, max_items=self.max_real,
                                                                   resolution=resolution, capture_mean_cov=True)
            self._real[resolution] = stats.get_mean_cov()
        return self._real[resolution]

    @torch.no_grad()
    def __call__(self, G, num_gen=None, G_kwargs={}, seed=0):
        """FID (and IS when the detector has logits) of num_gen images of G(z, c, **G_kwargs), against real images at
        the side of G's output.

        G needs z_dim (and c_dim if conditional) and must live on the evaluator's device. A torch module
        is put in eval mode for the duration of the call and restored afterwards; it is not copied.
        """
        start_time = time.time()
        num_gen = num_gen if num_gen is not None else self.num_gen
        if getattr(G, 'c_dim', 0) > 0 and self._label_dataset is None:
            self._label_dataset = dnnlib.util.construct_class_by_name(**self.opts.dataset_kwargs)
        self.opts.G_kwargs = dnnlib.EasyDict(G_kwargs)
        self.opts.seed = seed

        was_training = G.training if isinstance(G, torch.nn.Module) else None
        if was_training:
            G.eval()
        try:
            features = metric_utils.FeatureStats(max_items=num_gen, capture_mean_cov=True)
            probs = metric_utils.FeatureStats(max_items=num_gen, capture_all=True)
            num_steps = -(-num_gen // self.opts.batch_size)
            resolution = None
            for images in metric_utils.iterate_generator_images(self.opts, G, num_steps, self._label_dataset):
                resolution = images.shape[-1]
                f, p = self.detector.features_and_probs(images)
                features.append_torch(f)
                if p is not None:
                    probs.append_torch(p)
        finally:
            if was_training:
                G.train()

        mu_real, sigma_real = self.real_stats(resolution)
        mu_gen, sigma_gen = features.get_mean_cov()
        fid = frechet_inception_distance.frechet_distance(mu_real, sigma_real, mu_gen, sigma_gen)
        result = dnnlib.EasyDict(fid=fid, is_mean=None, is_std=None, num_gen=num_gen)
        if probs.num_items > 0:
            result.is_mean, result.is_std = inception_score.inception_score_from_probs(probs.get_all(), self.num_splits)
        result.time = time.time() - start_time
        return result

#----------------------------------------------------------------------------
# Reference statistics from a saved .npz (mu, sigma), e.g. the published TTUR CIFAR-10 ones, in place
# of a dataset pass.

def load_reference_stats(path):
    with np.load(path, allow_pickle=False) as data:
        if 'mu' not in data or 'sigma' not in data:
            raise dnnlib.UserError(f'{path}: expected arrays "mu" and "sigma"')
        return np.asarray(data['mu'], dtype=np.float64), np.asarray(data['sigma'], dtype=np.float64)

#----------------------------------------------------------------------------
