"""The cost of a generator, its parameters and FLOPs per generated image, and the parameter/FLOP budget of
resource-aware search (the future work of alphaGAN, Tian et al. 2022, Sec. 7) for every method and backbone."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from dnnlib.util import UserError
from nas import backbones

METRICS = ('params', 'flops')   # What a budget limits, in the order of search.py's --max-params, --max-flops.
OPTIONS = dict(params='--max-params', flops='--max-flops')
UNITS = dict(params='parameters', flops='FLOPs per image')

#----------------------------------------------------------------------------
# Exact cost of a built generator. params: every parameter element (sum of numel). flops: the multiply-accumulates
# (MACs) of every convolution and matrix product of one image's forward pass, half of what torch's FlopCounterMode
# counts (transposed convs, depthwise and grouped convs, StyleGAN2's modulated convs and FIR filters included);
# element-wise work (activations, normalisation, noise, demodulation, interpolation) is not counted. MACs are what
# the papers call FLOPs: the published AutoGAN CIFAR-10 G counts 1.765 G here, 1.77 G in alphaGAN Table 2, and
# alphaGAN_(l) 2.718 G against 2.78 G.

def count_generator(G):
    """{'params': int, 'flops': int} of generator G (one image of class 0, eval mode, constant noise)."""
    params = sum(p.numel() for p in G.parameters())
    device = next(G.parameters()).device
    mode = G.training
    G.eval()
    z = torch.zeros([1, G.z_dim], device=device)
    c = torch.zeros([1, G.c_dim], device=device)
    c[:, :1] = 1 # class 0 (nothing without labels)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        G(z, c, noise_mode='const')
    G.train(mode)
    return dict(params=int(params), flops=int(counter.get_total_flops()) // 2) # FlopCounterMode: 2 per MAC

def genotype_cost(genotype, img_channels=3, c_dim=0):
    """count_generator() of the generator `genotype` builds (Backbone.build_generator: its recorded widths; c_dim > 0:
    conditional on that many label dimensions, as the search). The build draws its initial weights from a forked
    RNG, so the caller's random stream is untouched."""
    with torch.random.fork_rng(devices=[]):
        G = backbones.get(genotype.backbone).build_generator(genotype, img_channels=img_channels, c_dim=c_dim)
    return count_generator(G)

def describe(cost):
    """'2,953,475 parameters, 1.23 GFLOPs per image'."""
    return f'{cost["params"]:,} parameters, {cost["flops"] / 1e9:.4g} GFLOPs per image'

#----------------------------------------------------------------------------
# The additive cost model of a space described as independent choices: slot i takes one of sizes[i] options and
# genotype_of(indices) is the architecture. cost(indices) = base + sum_i table[i][indices[i]], where base is the
# exact cost of all-zero indices and table[i][k] the exact change from switching slot i alone to option k. Exact
# where every choice's cost is independent of the others (conventional edges, StyleGAN2 layers and W choices;
# tests compare it with built networks); in the AutoGAN space the skip-ins and the shortcut up-sample like the
# cell does, so there it is a lower bound, its all-zero choices (no norm, bilinear, no shortcut, no skip-in) the
# exact cheapest architecture.

class CostModel:
    def __init__(self,
        sizes,                      # Options per slot.
        genotype_of,                # callable(indices) -> Genotype.
        img_channels    = 3,        # Output channels of the counted generators.
        c_dim           = 0,        # Label dimensions of the counted generators, 0 = unconditional.
    ):
        self.sizes = [int(n) for n in sizes]
        self.genotype_of = genotype_of
        self.img_channels = img_channels
        self.c_dim = c_dim
        self._exact = dict()        # cache: tuple(indices) -> exact cost
        zero = [0] * len(self.sizes)
        self.base = self.exact(zero)
        self.table = {metric: [] for metric in METRICS} # per slot: float64 [options], change from option 0
        for slot, size in enumerate(self.sizes):
            changes = [self.exact(zero[:slot] + [k] + zero[slot + 1:]) for k in range(1, size)]
            for metric in METRICS:
                values = [0] + [c[metric] - self.base[metric] for c in changes]
                self.table[metric].append(torch.tensor(values, dtype=torch.float64))

    def exact(self, indices):
        """Exact cost of the built generator of `indices`."""
        key = tuple(int(i) for i in indices)
        if key not in self._exact:
            self._exact[key] = genotype_cost(self.genotype_of(list(key)), self.img_channels, self.c_dim)
        return self._exact[key]

    def cost(self, indices):
        return {metric: self.base[metric] + sum(int(t[k]) for t, k in zip(self.table[metric], indices))
                for metric in METRICS}

    def expected(self, probs):
        """{metric: scalar tensor} expected cost under per-slot op probabilities (a list of [options] tensors),
        differentiable in them: base + sum_i probs[i] . table[i]."""
        return {metric: self.base[metric] + sum((p.double() * t.to(p.device)).sum()
                                                for p, t in zip(probs, self.table[metric])) # float64: exact counts
                for metric in METRICS}

    def cheapest(self, metric):
        """Indices of the cheapest architecture in `metric` (the first cheapest option of every slot)."""
        return [int(t.argmin()) for t in self.table[metric]]

#----------------------------------------------------------------------------
# A parameter and/or FLOP budget. Every method checks it before searching: the cheapest architecture of the space
# in each limited metric must fit, and one of those must fit both limits; that one is the fallback of a method
# whose own pick does not fit.

class Budget:
    def __init__(self, max_params=None, max_flops=None):
        self.limits = {metric: limit for metric, limit in zip(METRICS, [max_params, max_flops]) if limit is not None}

    def __bool__(self):
        return bool(self.limits)

    def fits(self, cost):
        return all(cost[metric] <= limit for metric, limit in self.limits.items())

    def excess(self, cost):
        """sum over the limited metrics of relu(cost / limit - 1): 0 within budget."""
        return sum(max(cost[metric] / limit - 1, 0) for metric, limit in self.limits.items())

    def penalty(self, expected):
        """Differentiable hinge sum_m relu(expected_m / limit_m - 1) of CostModel.expected()."""
        return sum(torch.relu(expected[metric] / limit - 1) for metric, limit in self.limits.items())

    def check(self, model):
        """The fallback indices: the cheapest architecture (per limited metric, exact cost) that fits every limit.
        A UserError names the option whose limit the space cannot meet."""
        fallback = None
        for metric, limit in self.limits.items():
            indices = model.cheapest(metric)
            cost = model.exact(indices)
            if cost[metric] > limit:
                raise UserError(f'{OPTIONS[metric]}={limit:,}: the cheapest architecture of this space has '
                                f'{cost[metric]:,} {UNITS[metric]}')
            if fallback is None and self.fits(cost):
                fallback = indices
        if fallback is None:
            raise UserError(f'{" and ".join(f"{OPTIONS[m]}={v:,}" for m, v in self.limits.items())}: none of the '
                            f'cheapest architectures of this space meets both limits')
        return fallback

    def repair(self, model, indices, scores):
        """Greedy best-within-budget choice from `indices` (an additive model): while over budget, switch the one
        slot whose switch lowers the excess at the least loss of score (log-probability of the op: the next-best
        op by alpha), larger excess reductions first on ties. Falls back to check()'s architecture if stuck."""
        indices = [int(i) for i in indices]
        excess = self.excess(model.cost(indices))
        while excess > 0:
            best = None
            for slot, size in enumerate(model.sizes):
                for k in range(size):
                    trial = indices[:slot] + [k] + indices[slot + 1:]
                    trial_excess = self.excess(model.cost(trial))
                    if trial_excess < excess:
                        key = (float(scores[slot][indices[slot]] - scores[slot][k]), trial_excess)
                        if best is None or key < best[0]:
                            best = (key, trial)
            if best is None:
                return self.check(model)
            indices, excess = best[1], best[0][1]
        return indices

    def describe(self):
        return ', '.join(f'{OPTIONS[m]}={v:,}' for m, v in self.limits.items())

#----------------------------------------------------------------------------
# A supernet's architecture parameters as choices: every row of every arch_parameters() tensor is a slot over its
# candidate ops (StyleGAN2 micro: one row for all layers of a kind; dynw: one row of betas per ws slot).

def supernet_slots(G):
    return [p.shape[1] for p in G.arch_parameters() for _row in range(p.shape[0])]

def supernet_probs(G):
    """Softmax op probabilities per slot, differentiable in the alphas (also with Gumbel weights: the expectation
    of the Gumbel sample's one-hot)."""
    return [row for p in G.arch_parameters() for row in p.softmax(dim=-1).unbind(0)]

def supernet_argmax(G):
    return [int(i) for p in G.arch_parameters() for i in p.detach().argmax(dim=-1).tolist()]

@torch.no_grad()
def derive_choices(G, indices, **provenance):
    """G.derive(**provenance) with the ops `indices` instead of the argmax; the provenance keeps the real alphas."""
    params = G.arch_parameters()
    saved = [p.detach().clone() for p in params]
    start = 0
    try:
        for p in params:
            rows = torch.as_tensor(indices[start:start + p.shape[0]], dtype=torch.int64, device=p.device)
            p.copy_(torch.nn.functional.one_hot(rows, p.shape[1]).to(p.dtype))
            start += p.shape[0]
        genotype = G.derive(**provenance)
    finally:
        for p, value in zip(params, saved):
            p.copy_(value)
    genotype.provenance['alphas'] = G.alphas_as_lists()
    return genotype

def supernet_cost_model(G):
    return CostModel(supernet_slots(G), lambda indices: derive_choices(G, indices), img_channels=G.img_channels,
                     c_dim=G.c_dim)

#----------------------------------------------------------------------------
# A backbone's genotypes as choices (Backbone.choice_sizes / genotype_from_choices): what random search samples
# and AutoGAN's controller emits.

def space_cost_model(backbone, resolution, channels=None, mode=None, img_channels=3, c_dim=0):
    b = backbones.get(backbone)
    return CostModel(b.choice_sizes(resolution=resolution, channels=channels, mode=mode),
                     lambda indices: b.genotype_from_choices(indices, resolution=resolution, channels=channels,
                                                             mode=mode), img_channels=img_channels, c_dim=c_dim)

#----------------------------------------------------------------------------
