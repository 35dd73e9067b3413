"""alphaGAN: differentiable GAN architecture search by minimising the duality gap (Tian et al. 2022, Alg. 1 and 2)."""

import contextlib
import copy

import torch

import dnnlib
from nas import backbones
from nas import cost
from nas.search import methods
from nas.search.base import SearchAlgorithm, d_step, g_step, optimizer_step
from nas.space import mixed
from training.loss import d_hinge

#----------------------------------------------------------------------------
# Steps per iteration: T weight steps, S architecture steps, R steps of each of G_bar and D_bar.
# Conventional: paper Sec. 5.1 ((l): one epoch of 25k images at batch 64 = 390); StyleGAN2 (s): supp. A.1.2.
# The paper runs no (l) search on StyleGAN2; ganas uses the conventional (l) values there.

PRESETS = {
    'alphaGAN_s': {'conventional': dict(T=20, S=20, R=20), 'stylegan2': dict(T=20, S=20, R=5)},
    'alphaGAN_l': {'conventional': dict(T=390, S=20, R=390), 'stylegan2': dict(T=390, S=20, R=390)},
}

#----------------------------------------------------------------------------
# With the hinge loss, M(G, D) = -(E relu(1 - D(x)) + E relu(1 + D(G(z)))) is the value D maximises; the duality gap
# is M(G, D_bar) - M(G_bar, D) >= 0 for best responses D_bar, G_bar (the authors' code's sign).

def game_value(D, G, real_img, real_c, z):
    """M(G, D) on one batch."""
    return -d_hinge(D(real_img, real_c), D(G(z, real_c), real_c))

def duality_gap(G, D, G_bar, D_bar, real_img, real_c, z):
    return game_value(D_bar, G, real_img, real_c, z) - game_value(D, G_bar, real_img, real_c, z)

def _weights(module):
    return module.weight_parameters() if hasattr(module, 'weight_parameters') else list(module.parameters())

def _arch(module):
    return module.arch_parameters() if hasattr(module, 'arch_parameters') else []

#----------------------------------------------------------------------------
# The search algorithm (one implementation for every backbone). Per iteration: T weight steps on the train split
# (D then G, hinge loss); then G_bar, D_bar from fresh copies trained R steps on the validation split (Alg. 2:
# D_bar against the current G, then G_bar against the current D, fresh Adam each); then S Adam steps on alpha
# minimising the gap on the validation split. The gradient is first order: G_bar and D_bar are held fixed as best
# responses, except that a bar which shares its network's architecture follows it. bar_update='weights': G_bar's
# architecture is G's (its alphas re-synced before every step), so alpha's gradient is through G in M(G, D_bar)
# plus through G_bar in -M(G_bar, D); 'arch' and 'both': G_bar's alphas are its own best response, held fixed like
# its weights, so only M(G, D_bar) depends on G's alphas. With search_D, D_bar (weights only, Alg. 2) shares D's
# architecture the same way. With Gumbel weights both terms of one step run one sample (one noise draw).

class AlphaGAN(SearchAlgorithm):
    def __init__(self, G, D, device,
        T               = 20,           # Weight steps per iteration ("weight_part").
        S               = 20,           # Architecture steps per iteration ("arch_part").
        R               = 20,           # Steps of each of D_bar and G_bar ("test-weight_part").
        n_critic        = 1,            # G weight step every n_critic-th D step (paper: every step; authors' code: 5).
        lr              = 2e-4,         # Adam learning rate of the weights, G_bar and D_bar (supp. A.1.1).
        betas           = (0.0, 0.999), # Adam betas of the weights (supp. A.1.1; authors' code: (0, 0.9)).
        arch_lr         = 3e-4,         # Adam learning rate of alpha (supp. A.1.1).
        arch_betas      = (0.5, 0.999), # Adam betas of alpha.
        arch_wd         = 1e-3,         # Weight decay of alpha.
        bar_update      = 'weights',    # What G_bar updates: 'weights' (best, Table 3), 'arch' or 'both'.
        search_D        = False,        # Search D's architecture too (Table 3); D must have arch_parameters().
        warmup_iters    = 0,            # Iterations with alpha frozen, weights only (supp. Table 1 warm-up: half).
        max_params      = None,         # Parameter budget of the derived G (nas.cost), None = none.
        max_flops       = None,         # FLOP budget of the derived G per image (nas.cost), None = none.
        cost_weight     = 1.0,          # Weight of the expected-cost hinge in the architecture loss.
    ):
        super().__init__(G, D, device)
        assert bar_update in ['weights', 'arch', 'both']
        assert search_D in [False, True]
        assert n_critic >= 1 and T >= 1 and S >= 0 and R >= 0 and warmup_iters >= 0
        if search_D and not _arch(D):
            raise ValueError('search_D: the discriminator has no arch_parameters()')
        self.T, self.S, self.R = T, S, R
        self.n_critic = n_critic
        self.lr = lr
        self.betas = tuple(float(b) for b in betas)
        self.bar_update = bar_update
        self.search_D = search_D
        self.warmup_iters = warmup_iters
        self.num_weight_steps = 0
        self.G_opt = torch.optim.Adam(_weights(G), lr=lr, betas=self.betas)
        self.D_opt = torch.optim.Adam(_weights(D), lr=lr, betas=self.betas)
        self.arch_params = _arch(G) + (_arch(D) if search_D else [])
        self.arch_opt = torch.optim.Adam(self.arch_params, lr=arch_lr, betas=tuple(float(b) for b in arch_betas),
                                         weight_decay=arch_wd)
        self.budget = cost.Budget(max_params, max_flops)
        self.cost_weight = cost_weight
        if self.budget: # exact per-op costs of G's edges; a budget the space cannot meet ends here
            self.cost_model = cost.supernet_cost_model(G)
            self.budget.check(self.cost_model)

    def _z(self, n):
        return torch.randn([n, self.G.z_dim], device=self.device)

    def _d_step(self, G, D, opt, real_img, real_c):
        return d_step(G, D, opt, real_img, real_c, self._z(real_img.shape[0]))

    def _g_step(self, G, D, opt, batch_size, c):
        return g_step(G, D, opt, self._z(batch_size), c)

    def weight_part(self, data):
        """Alg. 1 lines 3-7 on the train split."""
        D_losses, G_losses = [], []
        for _ in range(self.T):
            real_img, real_c = data.train()
            D_losses.append(self._d_step(self.G, self.D, self.D_opt, real_img, real_c))
            if self.num_weight_steps % self.n_critic == 0:
                G_losses.append(self._g_step(self.G, self.D, self.G_opt, real_img.shape[0], real_c))
            self.num_weight_steps += 1
        return D_losses, G_losses

    def solve_bars(self, data):
        """Alg. 2 on the validation split: copies of D and G trained R steps each. The real G and D stay bitwise
        unchanged: D_bar trains against G_bar before G_bar moves (same weights as G, its own BN statistics), and
        G_bar trains against D in eval mode (no spectral-norm power iteration), D's gradients dropped after."""
        D_bar = copy.deepcopy(self.D)
        G_bar = copy.deepcopy(self.G)
        D_bar_opt = torch.optim.Adam(_weights(D_bar), lr=self.lr, betas=self.betas)
        for _ in range(self.R):
            real_img, real_c = data.val()
            self._d_step(G_bar, D_bar, D_bar_opt, real_img, real_c)
        G_bar_params = dict(weights=_weights(G_bar), arch=_arch(G_bar), both=_weights(G_bar) + _arch(G_bar))
        G_bar_opt = torch.optim.Adam(G_bar_params[self.bar_update], lr=self.lr, betas=self.betas)
        D_mode = self.D.training
        self.D.eval()
        for _ in range(self.R):
            _real_img, real_c = data.val() # Alg. 2 line 6 needs only noise; labels come from the split
            self._g_step(G_bar, self.D, G_bar_opt, real_c.shape[0], real_c)
        self.D.train(D_mode)
        for module in (self.D, G_bar, D_bar):
            module.zero_grad(set_to_none=True)
        return G_bar, D_bar

    def _gumbel_sample(self, G_bar):
        """One Gumbel noise draw for G and G_bar in one step's gap; nothing drawn without Gumbel weights."""
        if not getattr(self.G, 'gumbel', False):
            return contextlib.nullcontext()
        return mixed.shared_gumbel_noise([self.G, G_bar], int(torch.randint(1 << 62, [])))

    def arch_part(self, data, G_bar, D_bar):
        """Alg. 1 lines 10-13: S Adam steps on alpha minimising the duality gap on the validation split."""
        gaps = []
        shared = [(self.G, G_bar)] if self.bar_update == 'weights' else [] # bars that run their network's architecture
        if self.search_D:
            shared.append((self.D, D_bar))
        D_modes = (self.D.training, D_bar.training)
        self.D.eval() # no spectral-norm power iterations: the arch part must not move D
        D_bar.eval()
        for _ in range(self.S):
            with torch.no_grad():
                for net, bar in shared:
                    for p, p_bar in zip(_arch(net), _arch(bar)):
                        p_bar.copy_(p)
            real_img, real_c = data.val()
            z = self._z(real_img.shape[0])
            with self._gumbel_sample(G_bar):
                gap = duality_gap(self.G, self.D, G_bar, D_bar, real_img, real_c, z)
            # Only the alphas' gradients are used (first order): autograd.grad leaves out the weight gradients of the
            # four networks, about a third of a full backward pass.
            alphas = self.arch_params + [p for _net, bar in shared for p in _arch(bar)]
            loss = gap + self.cost_penalty() if self.budget else gap
            grads = dict(zip(alphas, torch.autograd.grad(loss, alphas, allow_unused=True)))
            for p in self.arch_params:
                p.grad = grads[p]
            for net, bar in shared:
                for p, p_bar in zip(_arch(net), _arch(bar)):
                    if grads[p_bar] is not None:
                        p.grad = grads[p_bar] if p.grad is None else p.grad + grads[p_bar]
            optimizer_step(self.arch_opt)
            gaps.append(gap.item())
        self.D.train(D_modes[0])
        D_bar.train(D_modes[1])
        for module in (self.D, self.G):
            for p in _weights(module):
                p.grad = None # the weight part's last gradients do not outlive the step
        return gaps

    # Resource-aware search: the architecture loss adds cost_weight * sum_m relu(E[cost_m] / limit_m - 1), the
    # expected cost of G's derived network under the softmax op probabilities (nas.cost.CostModel, exact per op), a
    # hinge that leaves the alphas free within budget. The derived genotype is the argmax when it fits, else the
    # greedy best-within-budget choice (Budget.repair: next-best ops by alpha).

    def expected_cost(self):
        return self.cost_model.expected(cost.supernet_probs(self.G))

    def cost_penalty(self):
        return self.cost_weight * self.budget.penalty(self.expected_cost())

    def derive(self, **provenance):
        """G's architecture; with search_D, D's searched ops go into provenance.extra.D_ops."""
        if self.search_D and hasattr(self.D, 'derive_ops'):
            provenance = dict(provenance, extra=dict(provenance.get('extra') or {}, D_ops=self.D.derive_ops()))
        if self.budget:
            indices = cost.supernet_argmax(self.G)
            if not self.budget.fits(self.cost_model.cost(indices)):
                scores = [row.log_softmax(dim=-1).tolist() for p in self.G.arch_parameters() for row in p.detach()]
                return cost.derive_choices(self.G, self.budget.repair(self.cost_model, indices, scores), **provenance)
        return self.G.derive(**provenance)

    def step(self, iteration, data):
        D_losses, G_losses = self.weight_part(data)
        stats = {'Loss/D/loss': sum(D_losses) / len(D_losses)}
        if G_losses:
            stats['Loss/G/loss'] = sum(G_losses) / len(G_losses)
        if iteration < self.warmup_iters or self.S == 0:
            return stats
        G_bar, D_bar = self.solve_bars(data)
        gaps = self.arch_part(data, G_bar, D_bar)
        stats['Search/duality_gap'] = sum(gaps) / len(gaps)
        stats['Search/duality_gap_last'] = gaps[-1]
        if self.budget:
            with torch.no_grad():
                stats.update({f'Search/expected_{m}': float(v) for m, v in self.expected_cost().items()})
        return stats

    def state_dict(self):
        return dict(G=self.G.state_dict(), D=self.D.state_dict(), G_opt=self.G_opt.state_dict(),
                    D_opt=self.D_opt.state_dict(), arch_opt=self.arch_opt.state_dict(),
                    num_weight_steps=self.num_weight_steps)

    def load_state_dict(self, state):
        self.G.load_state_dict(state['G'])
        self.D.load_state_dict(state['D'])
        self.G_opt.load_state_dict(state['G_opt'])
        self.D_opt.load_state_dict(state['D_opt'])
        self.arch_opt.load_state_dict(state['arch_opt'])
        self.num_weight_steps = int(state['num_weight_steps'])

#----------------------------------------------------------------------------
# search.py --method=alphagan: weights and alphas on half the data each (supp. A.1.1); deconv taking over is its
# failure case (paper Sec. 5.4.2, Table 5), which the collapse monitor watches.

def describe(algorithm, G, dataset, c):
    num_arch = sum(p.numel() for p in G.arch_parameters())
    num_weights = sum(p.numel() for p in G.weight_parameters())
    return [f'Architecture params:    {num_arch} in {len(G.arch_parameters())} tensors',
            f'G parameters:           {num_weights} weights (supernet)']

@methods.register('alphagan', backbones=['conventional', 'stylegan2'], n_critic=1, val_fraction=0.5,
                  describe=describe, options=['preset', 'T', 'S', 'R', 'arch_lr', 'arch_wd', 'bar_update', 'search_d',
                                              'gumbel', 'gumbel_tau', 'warmup', 'up_ops', 'cost_weight',
                                              'gpus']) # its updates average gradients over processes
def configure(opts, c):
    if opts.search_d:
        backbone = backbones.get(opts.backbone)
        if backbone.search_d_class is None:
            with_one = ', '.join(f'--backbone={name}' for name in backbones.names()
                                 if backbones.get(name).search_d_class is not None)
            raise dnnlib.util.UserError(f'--search-d: the {opts.backbone} backbone has no searchable discriminator '
                                        f'(use {with_one})')
        c.D_kwargs = dnnlib.EasyDict(c.D_kwargs, class_name=backbone.search_d_class)
    preset = PRESETS[opts.preset][opts.backbone]
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.alphagan.AlphaGAN',
        T=opts.T or preset['T'], S=opts.S if opts.S is not None else preset['S'], R=opts.R or preset['R'],
        n_critic=opts.n_critic, lr=opts.lr, betas=[0.0, 0.999], arch_lr=opts.arch_lr, arch_betas=[0.5, 0.999],
        arch_wd=opts.arch_wd, bar_update=opts.bar_update, search_D=opts.search_d,
        warmup_iters=c.num_iters // 2 if opts.warmup else 0)
    if opts.get('max_params') is not None or opts.get('max_flops') is not None:
        c.algorithm_kwargs.cost_weight = opts.cost_weight if opts.get('cost_weight') is not None else 1.0
    elif opts.get('cost_weight') is not None:
        raise dnnlib.util.UserError('--cost-weight: only with --max-params or --max-flops')
    return f'{opts.preset}-'

#----------------------------------------------------------------------------
