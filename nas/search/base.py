"""Interface of the architecture search algorithms (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019) and the
seeded train/validation data they step on."""

import contextlib

import numpy as np
import torch

from torch_utils import distributed
from torch_utils import misc
from torch_utils import shift_invariance
from training.loss import d_hinge, g_hinge

#----------------------------------------------------------------------------
# A search algorithm plugs into nas.search.search_loop the way a loss plugs into the training loop: it owns its
# optimisers and reaches the supernet only through arch_parameters(), weight_parameters() and derive().

class SearchAlgorithm:
    def __init__(self, G, D, device, **hyperparameters):
        self.G = G
        self.D = D
        self.device = device

    def step(self, iteration, data):
        """One search iteration on `data` (SearchData); returns {stat name: float} for stats.jsonl."""
        raise NotImplementedError()

    def derive(self, **provenance):
        """The current architecture as a nas.genotype.Genotype."""
        return self.G.derive(**provenance)

    def arch_weights(self):
        """{edge or layer: {op name: probability}} for plots and logs."""
        return self.G.genotype_probs()

    def state_dict(self):
        """Everything needed to continue exactly (networks, optimisers, counters); the loop saves the RNG."""
        raise NotImplementedError()

    def load_state_dict(self, state):
        raise NotImplementedError()

#----------------------------------------------------------------------------
# The GAN weight step every search method takes (hinge loss, as alphaGAN Eq. 1 and AutoGAN's shared GAN). The caller
# draws z and the labels, so each method keeps its own order of random draws; `D` is any callable (img, c) -> logits
# (AutoGAN's growing D). Gradients are averaged over the processes of a data-parallel search before the update, so
# every process keeps the same weights; with one process that is opt.step().

def optimizer_step(opt):
    distributed.average_gradients(_params(opt))
    opt.step()

@contextlib.contextmanager
def trainable_only(modules, params):
    """Inside, of the modules' parameters only `params` require gradients, so the forward records no graph for the
    others (a supernet's alphas in a weight step: each candidate op's output would be kept for its weight's
    gradient; D's weights in a G step; every weight in an architecture step)."""
    wanted = {id(p) for p in params}
    frozen = [p for module in modules if isinstance(module, torch.nn.Module) for p in module.parameters()
              if p.requires_grad and id(p) not in wanted]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)

def _params(opt):
    return [p for group in opt.param_groups for p in group['params']]

def _minimize(loss, opt):
    opt.zero_grad(set_to_none=True)
    # Gradients for the optimised parameters alone, also where D is a callable that trainable_only cannot reach.
    params = [p for p in _params(opt) if p.requires_grad]
    normalised_away = shift_invariance.normalised_away(loss, params)
    loss.backward(inputs=params)
    for p in normalised_away:
        p.grad.zero_() # the exact gradient; backward's rounding noise would move p by +-lr (see shift_invariance)
    optimizer_step(opt)
    return loss.item()

def d_step(G, D, opt, real_img, real_c, z):
    """One D step of the hinge loss against G(z, real_c), no gradient through G; returns the loss."""
    with torch.no_grad():
        fake_img = G(z, real_c)
    with trainable_only([D], _params(opt)):
        return _minimize(d_hinge(D(real_img, real_c), D(fake_img, real_c)), opt)

def g_step(G, D, opt, z, c):
    """One G step of the hinge loss through D; returns the loss."""
    with trainable_only([G, D], _params(opt)):
        return _minimize(g_hinge(D(G(z, c), c)), opt)

#----------------------------------------------------------------------------
# Train and validation splits of one dataset, each read through one iterator over an infinite sampler, built once.
# Batches come back as (real_img float32 [-1, 1] on device, c). Resumable: the position is the count of batches
# handed out, so a prefetching DataLoader never makes a resumed run skip or repeat images. Data-parallel: process
# `rank` of `num_replicas` reads every num_replicas-th image of the same shuffled order.

class SearchData:
    def __init__(self,
        dataset,                    # training.dataset.Dataset (uint8 CHW images).
        batch_size,                 # Images per batch and process, both splits.
        device,                     # Device of the returned tensors.
        val_fraction    = 0.5,      # Share of the dataset in the validation split (paper: half, 25k/25k).
        seed            = 0,        # Seed of the split and of both samplers' shuffles.
        loader_kwargs   = {},       # Options for torch.utils.data.DataLoader (num_workers, pin_memory, ...).
        state           = None,     # state_dict() of the run to continue, None = start.
        rank            = 0,        # This process.
        num_replicas    = 1,        # Processes sharing each batch.
    ):
        assert 0 < val_fraction < 1
        n = len(dataset)
        num_val = int(round(n * val_fraction))
        if num_val < 1 or num_val >= n:
            raise ValueError(f'cannot split {n} images into train and validation with val_fraction={val_fraction}')
        perm = np.random.default_rng(seed).permutation(n)
        self.indices = dict(train=np.sort(perm[num_val:]), val=np.sort(perm[:num_val]))
        self.batch_size = batch_size
        self.device = device
        self.num_batches = dict(train=0, val=0) if state is None else dict(state['num_batches'])
        self._iterators = dict()
        for i, split in enumerate(['train', 'val']):
            subset = torch.utils.data.Subset(dataset, self.indices[split].tolist())
            sampler = misc.InfiniteSampler(subset, rank=rank, num_replicas=num_replicas, seed=seed + i,
                                           start_index=self.num_batches[split] * batch_size * num_replicas)
            loader = torch.utils.data.DataLoader(subset, sampler=sampler, batch_size=batch_size, **loader_kwargs)
            self._iterators[split] = iter(loader)

    def __len__(self):
        return len(self.indices['train']) + len(self.indices['val'])

    def split_size(self, split):
        return len(self.indices[split])

    def _next(self, split):
        img, c = next(self._iterators[split])
        self.num_batches[split] += 1
        img = img.to(self.device).to(torch.float32) / 127.5 - 1
        return img, c.to(self.device)

    def train(self):
        """Next (real_img, c) batch of the train split (weights part)."""
        return self._next('train')

    def val(self):
        """Next (real_img, c) batch of the validation split (architecture part, G_bar/D_bar)."""
        return self._next('val')

    def state_dict(self):
        return dict(num_batches=dict(self.num_batches))

#----------------------------------------------------------------------------
