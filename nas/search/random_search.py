"""Random-search baseline for GAN architecture search (as compared against in AutoGAN, Gong et al. 2019, and
alphaGAN, Tian et al. 2022): N uniformly sampled architectures, each trained briefly under one budget."""

import copy

import numpy as np
import torch

import dnnlib
from nas import backbones
from nas import cost
from nas.genotype import Genotype
from nas.search import methods
from nas.search.autogan import top_k
from nas.search.base import SearchAlgorithm, d_step, g_step
from nas.search.reward import RewardEvaluator, reward_config

#----------------------------------------------------------------------------
# Uniform samples from each space's genotype layout (every choice independent), drawn from a numpy Generator.

def sample_genotype(space, rng,
    resolution  = 32,           # Image resolution recorded in the genotype.
    channels    = None,         # Genotype channels, None = the space's default.
    mode        = None,         # Mode of the space, None = its first.
):
    return backbones.get(space).sample_genotype(rng, resolution=resolution, channels=channels, mode=mode)

#----------------------------------------------------------------------------
# The search: iteration i trains candidate i (a fresh child G from its genotype and the given D reset to its
# initial weights) for train_steps D steps with the hinge loss, scores it and keeps the best. The candidates come
# from one seeded numpy Generator and each child's init and noise from a seed of (seed, i): reproducible, and
# independent of the global RNG. G (the search loop's supernet) supplies only z_dim, c_dim and the image shape.

class RandomSearch(SearchAlgorithm):
    def __init__(self, G, D, device,
        space           = 'autogan',    # Name of a backbone (nas.backbones.names()).
        num_samples     = 10,           # Candidates (one per search iteration).
        mode            = None,         # Mode of the space, None = its first.
        genotype_channels = None,       # Channels written into the genotypes, None = the space's default.
        child_kwargs    = {},           # Options of the child G (class_name defaults to the backbone's generator).
        train_steps     = 500,          # D steps per candidate: the shared budget.
        n_critic        = 5,            # D steps per G step.
        g_batch         = 128,          # G batch; the D batch is the data's.
        lr              = 2e-4,         # Adam learning rate of G and D.
        betas           = (0, 0.9),     # Adam betas of G and D.
        reward          = 'fid',        # 'fid' (reward 1/FID), 'is', callable(G) -> float or its dotted name.
        reward_samples  = 5000,         # Images per FID/IS.
        evaluator_kwargs = {},          # metrics.fast.FastEvaluator options (dataset_kwargs or real_stats, detector).
        reward_note     = None,         # One line for the log on what the reward is and why, None = none.
        seed            = 0,            # Seed of the candidates and of each child's init and noise.
        max_params      = None,         # Parameter budget of every candidate (nas.cost), None = none.
        max_flops       = None,         # FLOP budget of every candidate per image (nas.cost), None = none.
    ):
        super().__init__(G, D, device)
        self.device = torch.device(device)
        self.space = space
        self.num_samples = num_samples
        self.child_kwargs = dict(child_kwargs)
        self.child_kwargs.setdefault('class_name', backbones.get(space).generator_class)
        self.train_steps = train_steps
        self.n_critic = n_critic
        self.g_batch = g_batch
        self.lr = lr
        self.betas = tuple(float(b) for b in betas)
        self.reward = RewardEvaluator(self.device, reward, reward_samples, evaluator_kwargs, reward_note)
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.budget = cost.Budget(max_params, max_flops)
        if self.budget:
            self.genotypes = self._sample_within_budget(rng, G, genotype_channels, mode)
        else:
            self.genotypes = [sample_genotype(space, rng, resolution=G.img_resolution, channels=genotype_channels,
                                              mode=mode) for _ in range(num_samples)]
        backbones.get(space).show_genotype(G, self.genotypes[0]) # runnable for the loop's fakes grids
        self.D_init = copy.deepcopy(D.state_dict())
        self.rewards = []           # reward of every candidate trained so far
        self.best = None            # index of the best candidate so far
        self.best_G = None          # its trained child network

    # With a budget, a candidate over it is rejected and drawn again (uniform over the architectures within budget);
    # the additive cost model (a lower bound, exact outside the AutoGAN space) rejects most without a build.
    MAX_DRAWS = 1000                # Draws per candidate before the budget is called too tight.

    def _sample_within_budget(self, rng, G, channels, mode):
        backbone = backbones.get(self.space)
        kwargs = dict(resolution=G.img_resolution, channels=channels, mode=mode)
        model = cost.space_cost_model(self.space, img_channels=G.img_channels, c_dim=G.c_dim, **kwargs)
        self.budget.check(model)
        sizes = backbone.choice_sizes(**kwargs)
        genotypes = []
        for _ in range(self.num_samples):
            for _draw in range(self.MAX_DRAWS):
                indices = [int(rng.integers(n)) for n in sizes] # as Backbone.sample_genotype draws
                if self.budget.fits(model.cost(indices)) and self.budget.fits(model.exact(indices)):
                    genotypes.append(backbone.genotype_from_choices(indices, **kwargs))
                    break
            else:
                raise dnnlib.util.UserError(f'{self.budget.describe()}: no architecture within budget in '
                                            f'{self.MAX_DRAWS} uniform draws')
        return genotypes

    def build_child(self, index):
        """Candidate `index`'s generator with fresh weights."""
        kwargs = dict(c_dim=self.G.c_dim, img_resolution=self.G.img_resolution, img_channels=self.G.img_channels)
        kwargs.update(self.child_kwargs)
        return dnnlib.util.construct_class_by_name(genotype=self.genotypes[index].to_dict(), **kwargs)

    def train_child(self, G, data):
        """train_steps hinge-loss D steps (a G step every n_critic) against D reset to its initial weights."""
        self.D.load_state_dict(self.D_init)
        opt_G = torch.optim.Adam(G.parameters(), lr=self.lr, betas=self.betas)
        opt_D = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=self.betas)
        return self.train_gan(G, data, opt_G, opt_D)

    def train_gan(self, G, data, opt_G, opt_D, next_arch=None):
        """train_steps D steps (a G step every n_critic) with these optimisers; next_arch() switches G's architecture
        before every G step's D steps (weight sharing). Returns the mean G and D losses."""
        g_losses, d_losses = [], []
        for i in range(self.train_steps):
            if next_arch is not None and i % self.n_critic == 0:
                next_arch()
            real, c = data.train()
            z = torch.randn([real.shape[0], G.z_dim], device=self.device)
            d_losses.append(d_step(G, self.D, opt_D, real, c, z))
            if i % self.n_critic == 0:
                gen_c = c[torch.randint(c.shape[0], [self.g_batch], device=c.device)]
                z = torch.randn([self.g_batch, G.z_dim], device=self.device)
                g_losses.append(g_step(G, self.D, opt_G, z, gen_c))
        return float(np.mean(g_losses)) if g_losses else None, float(np.mean(d_losses)) if d_losses else None

    def step(self, iteration, data):
        if iteration >= self.num_samples:
            return {}
        seed = int(np.random.SeedSequence([self.seed, iteration]).generate_state(1)[0])
        devices = [self.device] if self.device.type == 'cuda' else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            G = self.build_child(iteration).train().requires_grad_(True).to(self.device)
            loss_G, loss_D = self.train_child(G, data)
            reward = self.reward(G)
        self.rewards.append(reward)
        if self.best is None or reward > self.rewards[self.best]:
            self.best, self.best_G = iteration, G
        return {'Loss/G': loss_G, 'Loss/D': loss_D, 'Search/reward': reward,
                'Search/best_reward': self.rewards[self.best], 'Search/candidate': iteration}

    def derive(self, **provenance):
        """The best candidate so far (candidate 0 before any is trained)."""
        return self.candidate_genotype(0 if self.best is None else self.best, **provenance)

    def ranked_genotypes(self, k, **provenance):
        """The k best candidates by reward, best first (earlier index on ties, as `best`)."""
        return [dict(genotype=self.candidate_genotype(i, **provenance), source=f'iteration {i + 1}',
                     search_score=self.rewards[i]) for i in top_k(self.rewards, k)]

    def candidate_genotype(self, index, **provenance):
        """Candidate `index` with its reward (None before it is trained) in provenance.extra."""
        extra = dict(provenance.pop('extra', None) or {}, candidate=index,
                     reward=self.rewards[index] if index < len(self.rewards) else None)
        d = self.genotypes[index].to_dict()
        d['provenance'] = dict(dict(method='random'), **provenance, extra=extra)
        return Genotype.from_dict(d)

    def arch_weights(self):
        return {} # nothing is learned about the ops

    def preview_G(self):
        """What the search loop's fakes grids show: the best trained child, or G before any child is trained."""
        return self.G if self.best_G is None else self.best_G

    def state_dict(self):
        return dict(rewards=list(self.rewards), best=self.best, D=self.D.state_dict(),
                    best_G=None if self.best_G is None else self.best_G.state_dict())

    def load_state_dict(self, state):
        self.rewards = list(state['rewards'])
        self.best = state['best']
        self.D.load_state_dict(state['D'])
        self.best_G = None
        if self.best is not None:
            self.best_G = self.build_child(self.best).to(self.device)
            self.best_G.load_state_dict(state['best_G'])

#----------------------------------------------------------------------------
# Random search with weight sharing (Li & Talwalkar 2019; AutoGAN Sec. 4.3.5): G is the backbone's searched network
# (supernet or AutoGAN's shared G), trained as one: every G step and the D steps before it run a uniformly drawn
# architecture. Iteration i trains train_steps D steps, then scores candidate i with the shared weights; the last
# iteration scores every candidate again with the final weights and keeps the best (rewards of earlier weights are
# not comparable). The training architectures come from their own seeded numpy Generator.

class SharedRandomSearch(RandomSearch):
    def __init__(self, G, D, device, **kwargs):
        super().__init__(G, D, device, **kwargs)
        self.backbone = backbones.get(self.space)
        self.mode = kwargs.get('mode')
        self.genotype_channels = kwargs.get('genotype_channels')
        self.arch_rng = np.random.default_rng([self.seed, 1])
        self.opt_G = torch.optim.Adam(G.weight_parameters(), lr=self.lr, betas=self.betas)
        self.opt_D = torch.optim.Adam(D.parameters(), lr=self.lr, betas=self.betas)

    def _next_arch(self):
        genotype = sample_genotype(self.space, self.arch_rng, resolution=self.G.img_resolution,
                                   channels=self.genotype_channels, mode=self.mode)
        self.backbone.show_genotype(self.G, genotype)

    def score(self, index):
        """Reward of candidate `index` with the shared weights."""
        self.backbone.show_genotype(self.G, self.genotypes[index])
        return self.reward(self.G)

    def step(self, iteration, data):
        if iteration >= self.num_samples:
            return {}
        self.G.train().requires_grad_(True)
        loss_G, loss_D = self.train_gan(self.G, data, self.opt_G, self.opt_D, next_arch=self._next_arch)
        reward = self.score(iteration)
        self.rewards.append(reward)
        if iteration + 1 == self.num_samples:
            self.rewards = [self.score(i) for i in range(self.num_samples)]
        self.best = int(np.argmax(self.rewards)) # earliest of equals
        self.backbone.show_genotype(self.G, self.genotypes[self.best]) # the fakes grids show the result so far
        return {'Loss/G': loss_G, 'Loss/D': loss_D, 'Search/reward': reward,
                'Search/best_reward': self.rewards[self.best], 'Search/candidate': iteration}

    def preview_G(self):
        return self.G

    def state_dict(self):
        return dict(rewards=list(self.rewards), best=self.best, G=self.G.state_dict(), D=self.D.state_dict(),
                    opt_G=self.opt_G.state_dict(), opt_D=self.opt_D.state_dict(),
                    arch_rng=self.arch_rng.bit_generator.state)

    def load_state_dict(self, state):
        self.rewards = list(state['rewards'])
        self.best = state['best']
        self.G.load_state_dict(state['G'])
        self.D.load_state_dict(state['D'])
        self.opt_G.load_state_dict(state['opt_G'])
        self.opt_D.load_state_dict(state['opt_D'])
        self.arch_rng.bit_generator.state = state['arch_rng']
        if self.best is not None:
            self.backbone.show_genotype(self.G, self.genotypes[self.best])

#----------------------------------------------------------------------------
# search.py --method=random: each candidate trains on all the data, at the search width.

def describe(algorithm, G, dataset, c):
    if isinstance(algorithm, SharedRandomSearch):
        return [f'Candidates:             {algorithm.num_samples}, scored with weights shared by every architecture '
                f'({algorithm.train_steps} D steps per iteration)',
                f'G parameters:           {sum(p.numel() for p in G.weight_parameters())} (shared G)']
    counts = [sum(p.numel() for p in algorithm.build_child(i).parameters()) for i in range(algorithm.num_samples)]
    return [f'Candidates:             {algorithm.num_samples}, {algorithm.train_steps} D steps each '
            f'(budget {algorithm.num_samples * algorithm.train_steps} D steps)',
            f'G parameters:           {min(counts)} to {max(counts)} (candidates)']

@methods.register('random', backbones=['conventional', 'autogan', 'stylegan2'], iters=10, n_critic=5,
                  collapse_kwargs=dict(watch_ops=[]), describe=describe, options=['train_steps', 'weight_sharing', 'reward',
                  'reward_samples', 'reward_real', 'detector', 'g_batch'])
def configure(opts, c):
    backbone = backbones.get(opts.backbone)
    name = 'SharedRandomSearch' if opts.weight_sharing else 'RandomSearch'
    c.algorithm_kwargs = dnnlib.EasyDict(class_name=f'nas.search.random_search.{name}', space=opts.backbone,
        num_samples=c.num_iters, mode=opts.mode if len(backbone.modes) > 1 else None,
        child_kwargs=backbone.child_kwargs(opts, c.G_kwargs), train_steps=opts.train_steps, n_critic=opts.n_critic,
        g_batch=opts.g_batch, lr=opts.lr, betas=[0.0, 0.9], **reward_config(opts, c), seed=opts.seed)
    return 'ws-' if opts.weight_sharing else ''

#----------------------------------------------------------------------------
