"""AutoGAN: RL architecture search for GAN generators with parameter sharing, dynamic resetting and multi-level
beam search (Gong et al. 2019, Alg. 1)."""

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

import dnnlib
from nas import cost
from nas.search import methods
from nas.search.base import SearchAlgorithm, d_step, g_step
from nas.search.controller import Controller
from nas.search.reward import RewardEvaluator, reward_config
from nas.space import autogan_space
from nas.space import ops
from nas.space import primitives

#----------------------------------------------------------------------------
# Schedules. 'paper': Sec. 4 (90 iterations, 15 shared-GAN epochs and 30 controller steps per iteration) with the
# authors' config defaults for growing (after iterations 25 and 55); 'authors_scripts': their run scripts.

PRESETS = {
    'paper':            dict(num_iters=90, grow_iters=(25, 55), shared_epochs=15, ctrl_steps=30),
    'authors_scripts':  dict(num_iters=65, grow_iters=(15, 35), shared_epochs=15, ctrl_steps=30),
}

def grow_schedule(num_iters, preset='paper'):
    """The preset's grow iterations scaled to a run of num_iters (a shortened search keeps the proportions)."""
    p = PRESETS[preset]
    points = [min(max(1, round(it * num_iters / p['num_iters'])), num_iters - 1) for it in p['grow_iters']]
    return sorted(set(it for it in points if it >= 1))
RESET_STATS = ('var', 'std')

#----------------------------------------------------------------------------
# Dynamic resetting (paper Sec. 3.2): a moving window of the last `window` G and D losses; fires once the window
# is full and the statistic of both falls below the threshold (paper settings: variance 1e-3).

class DynamicReset:
    def __init__(self,
        window      = 500,          # Losses kept per network (authors' code: 500).
        threshold   = 1e-3,         # Reset below this (paper Sec. 4).
        stat        = 'var',        # 'var' (settings, authors' code) or 'std' (paper Sec. 3.2 wording).
    ):
        assert stat in RESET_STATS
        self.window = window
        self.threshold = threshold
        self.stat = stat
        self.g_losses = []
        self.d_losses = []

    def _value(self, losses):
        return float(np.var(losses) if self.stat == 'var' else np.std(losses))

    def update(self, g_loss, d_loss):
        """Record one G and one D loss; True when the shared GAN should be reset."""
        self.g_losses = (self.g_losses + [float(g_loss)])[-self.window:]
        self.d_losses = (self.d_losses + [float(d_loss)])[-self.window:]
        if len(self.g_losses) < self.window:
            return False
        return self._value(self.g_losses) < self.threshold and self._value(self.d_losses) < self.threshold

    def clear(self):
        self.g_losses, self.d_losses = [], []

    def state_dict(self):
        return dict(g_losses=list(self.g_losses), d_losses=list(self.d_losses))

    def load_state_dict(self, state):
        self.g_losses, self.d_losses = list(state['g_losses']), list(state['d_losses'])

#----------------------------------------------------------------------------
# REINFORCE with a baseline and an entropy bonus (paper Sec. 3.3.2), per sample and averaged over the batch:
# loss = -mean_i (sum_t log p(a_it)) (R_i - b) - w * mean_i H_i.

def reinforce_loss(log_probs, rewards, baseline, entropies, entropy_weight):
    advantage = (rewards - baseline).detach()
    return -(log_probs * advantage).mean() - entropy_weight * entropies.mean()

def update_baseline(baseline, rewards, decay):
    """Moving average of the mean batch reward; the first batch sets it."""
    mean = float(rewards.mean())
    return mean if baseline is None else decay * baseline + (1 - decay) * mean

def top_k(rewards, k):
    """Indices of the k largest rewards, best first (earlier index on ties)."""
    return sorted(range(len(rewards)), key=lambda i: (-rewards[i], i))[:k]

#----------------------------------------------------------------------------
# The growing discriminator of the multi-level search: at stage s (images at 8 * 2^s px for three cells) the
# AutoGAN D runs block1, the next s of block2/block3, then block4. Another D sees images resized to its input.

def staged_D(D, img, c, stage):
    if not all(hasattr(D, name) for name in ('block1', 'block2', 'block3', 'block4', 'head')):
        if img.shape[-1] != D.img_resolution:
            img = F.interpolate(img, size=[D.img_resolution, D.img_resolution], mode='nearest')
        return D(img, c)
    h = D.block1(img)
    for block in [D.block2, D.block3][:stage]:
        h = block(h)
    return D.head(D.block4(h), c)

def _reinit(module):
    """Fresh random weights in every submodule (and the network's own init rule when it has one)."""
    for m in module.modules():
        if m is not module and hasattr(m, 'reset_parameters'):
            m.reset_parameters()
    if hasattr(module, 'init'):
        ops.init_weights(module, module.init)

#----------------------------------------------------------------------------
# The search (Alg. 1). Per iteration: shared-GAN training (one controller-sampled child per G step, n_critic D
# steps per G step) until the step budget ends or dynamic reset fires; then ctrl_steps REINFORCE steps, each on
# ctrl_batch children scored by the reward; then the reset, if it fired. At each grow iteration: sample
# num_candidates children, keep the beam_size best with their LSTM states, start a new controller for the next
# cell; each of its samples continues a uniformly drawn kept beam.

class AutoGAN(SearchAlgorithm):
    def __init__(self, G, D, device,
        num_iters       = 90,           # Search iterations; the last one selects the result (paper Sec. 4).
        grow_iters      = (25, 55),     # Iterations at which the next cell is added (authors' config).
        single_level    = False,        # One controller samples all cells at once, full resolution throughout
                                        # (Sec. 4.3.4's single-level ablation; grow_iters must be empty).
        shared_epochs   = 15,           # Shared-GAN epochs over the train split per iteration (paper Sec. 4).
        shared_steps    = None,         # D steps per iteration, None = shared_epochs worth.
        n_critic        = 5,            # D steps per G step (authors' code).
        g_batch         = 128,          # G batch (paper Sec. 4); the D batch is the data's (paper: 64).
        lr              = 2e-4,         # Adam learning rate of G and D (paper Sec. 4).
        betas           = (0, 0.9),     # Adam betas of G and D (authors' code).
        ctrl_lr         = 3.5e-4,       # Controller Adam learning rate (paper Sec. 4).
        ctrl_betas      = (0, 0.9),     # Controller Adam betas (authors' code).
        ctrl_steps      = 30,           # Controller steps per iteration (paper Sec. 4).
        ctrl_batch      = 1,            # Children per controller step (authors' code: 1).
        hidden_size     = 100,          # Controller LSTM width.
        baseline_decay  = 0.9,          # Moving-average baseline decay (authors' code).
        entropy_weight  = 1e-4,         # Entropy bonus (paper Sec. 4; authors' code 1e-3 with the other sign).
        reset_baseline  = False,        # Restart the baseline every iteration (authors' code) instead of per stage.
        reward          = 'is',         # 'is' (paper), 'fid' (1/FID, Sec. 5.1), callable(G) -> float or its name.
        reward_samples  = 5000,         # Images per reward (authors' code: 5000).
        evaluator_kwargs = {},          # metrics.fast.FastEvaluator options (dataset_kwargs or real_stats, detector).
        reward_note     = None,         # One line for the log on what the reward is and why, None = none.
        dynamic_reset   = True,         # Reset the shared GAN when its losses flatten (paper Sec. 3.2; off: Sec. 4.3.3).
        reset_window    = 500,          # Dynamic-reset window (authors' code).
        reset_threshold = 1e-3,         # Dynamic-reset threshold (paper Sec. 4).
        reset_stat      = 'var',        # 'var' or 'std', see DynamicReset.
        num_candidates  = 10,           # Children sampled at the end of a stage (authors' code).
        beam_size       = 5,            # Beams kept (authors' code: top 5).
        derived_channels = 256,         # g_channels written into genotypes: the re-training width (published: 256).
        seed            = 0,            # Seed of the controller's draws.
        max_params      = None,         # Parameter budget of the derived G (nas.cost), None = none.
        max_flops       = None,         # FLOP budget of the derived G per image (nas.cost), None = none.
    ):
        super().__init__(G, D, device)
        assert all(0 < it < num_iters for it in grow_iters) and list(grow_iters) == sorted(grow_iters)
        assert not (single_level and grow_iters)
        assert len(grow_iters) < len(primitives.AUTOGAN_CELLS)
        self.num_iters = num_iters
        self.grow_iters = tuple(grow_iters)
        self.shared_epochs = shared_epochs
        self.shared_steps = shared_steps
        self.n_critic = n_critic
        self.g_batch = g_batch
        self.lr = lr
        self.betas = tuple(float(b) for b in betas)
        self.ctrl_lr = ctrl_lr
        self.ctrl_betas = tuple(float(b) for b in ctrl_betas)
        self.ctrl_steps = ctrl_steps
        self.ctrl_batch = ctrl_batch
        self.hidden_size = hidden_size
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.reset_baseline = reset_baseline
        self.reward = RewardEvaluator(device, reward, reward_samples, evaluator_kwargs, reward_note)
        self.num_candidates = num_candidates
        self.beam_size = beam_size
        self.derived_channels = derived_channels
        self.dynamic_reset = dynamic_reset
        self.resetter = DynamicReset(reset_window, reset_threshold, reset_stat)
        self.generator = torch.Generator().manual_seed(seed)
        self.budget = cost.Budget(max_params, max_flops)
        if self.budget: # genotypes as derive() writes them; a budget the space cannot meet ends here
            self.cost_model = cost.space_cost_model('autogan', G.img_resolution,
                channels=dict(g_channels=derived_channels), img_channels=G.img_channels, c_dim=G.c_dim)
            self.fallback = autogan_space.split_tokens(self.budget.check(self.cost_model))

        self.single_level = single_level
        self.stage = len(primitives.AUTOGAN_CELLS) - 1 if single_level else 0 # resolution and D depth
        self.beams = [dict(sample=[], h=None, c=None, reward=None)] # kept prefixes; one empty one at stage 0
        self.found = None           # final ranking [(sample, reward)], set by the last iteration
        self.baseline = None
        self.num_resets = 0
        self._build_gan_optimizers()
        self._new_controller()
        self.G.set_arch(self.current_best()) # a runnable child for the search loop's first fakes grid

    def _build_gan_optimizers(self):
        self.opt_G = torch.optim.Adam(self.G.weight_parameters(), lr=self.lr, betas=self.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=self.betas)

    def _controller_cells(self):
        """Cells the current controller samples: the current stage's, or every cell at once (single level)."""
        return list(range(len(primitives.AUTOGAN_CELLS))) if self.single_level else [self.stage]

    def _split(self, tokens):
        """One controller sample (a list of tokens) as one token tuple per cell it covers."""
        cells, start = [], 0
        for s in self._controller_cells():
            count = len(primitives.autogan_token_sizes(s))
            cells.append(tuple(tokens[start:start + count]))
            start += count
        return cells

    def _new_controller(self):
        sizes = [n for s in self._controller_cells() for n in primitives.autogan_token_sizes(s)]
        self.controller = Controller(sizes, self.hidden_size).to(self.device)
        self.opt_ctrl = torch.optim.Adam(self.controller.parameters(), lr=self.ctrl_lr, betas=self.ctrl_betas)
        self.baseline = None

    # Sampling: each child continues a uniformly drawn kept beam.
    def sample_children(self, n):
        """n children of the current stage: (samples, actions, log_probs, entropies, final (h, c))."""
        idx = torch.randint(len(self.beams), [n], generator=self.generator).tolist()
        initial = None
        if self.beams[0]['h'] is not None: # continuing kept beams (multi-level, after the first cell)
            initial = (torch.stack([self.beams[i]['h'] for i in idx]).to(self.device),
                       torch.stack([self.beams[i]['c'] for i in idx]).to(self.device))
        actions, log_probs, entropies, state = self.controller.sample(n, initial, generator=self.generator,
                                                                      return_state=True)
        samples = [self.beams[i]['sample'] + self._split(a) for i, a in zip(idx, actions.tolist())]
        return samples, actions, log_probs, entropies, state

    # Resource-aware search: a child whose derived G (later cells completed as derive() does) is over budget gets
    # reward 0, the lowest IS and 1/FID give, so the controller learns to avoid it and beam search ranks it last;
    # derive() returns the best ranked child within budget, else the space's cheapest architecture that fits.
    def _complete(self, sample):
        """A sample of the first cells completed with the first choice of every token of the later ones."""
        return sample + [(0,) * len(primitives.autogan_token_sizes(s))
                         for s in range(len(sample), len(primitives.AUTOGAN_CELLS))]

    def within_budget(self, sample):
        if not self.budget:
            return True
        indices = [t for tokens in self._complete(sample) for t in tokens]
        return self.budget.fits(self.cost_model.cost(indices)) and self.budget.fits(self.cost_model.exact(indices))

    # Reward of one child.
    def child_reward(self, sample):
        if not self.within_budget(sample):
            return 0.0
        with torch.no_grad():
            self.G.set_arch(sample)
        return self.reward(self.G)

    # Phase 1: shared-GAN training with the controller fixed.
    def train_shared(self, data):
        steps = self.shared_steps
        if steps is None:
            steps = self.shared_epochs * math.ceil(data.split_size('train') / data.batch_size)
        res = self.G.bottom_width << (self.stage + 1)
        D = functools.partial(staged_D, self.D, stage=self.stage)
        g_losses, d_losses, fired = [], [], False
        for i in range(steps):
            if i % self.n_critic == 0:
                with torch.no_grad():
                    self.G.set_arch(self.sample_children(1)[0][0])
            real, c = data.train()
            if real.shape[-1] != res:
                real = F.avg_pool2d(real, real.shape[-1] // res)
            z = torch.randn([real.shape[0], self.G.z_dim], device=self.device)
            d_losses.append(d_step(self.G, D, self.opt_D, real, c, z))
            if i % self.n_critic == 0:
                z = torch.randn([self.g_batch, self.G.z_dim], device=self.device)
                gen_c = c[torch.randint(c.shape[0], [self.g_batch], device=c.device)] if c.ndim > 1 else c
                g_losses.append(g_step(self.G, D, self.opt_G, z, gen_c))
                if self.dynamic_reset and self.resetter.update(g_losses[-1], d_losses[-1]):
                    fired = True
                    break
        return dict(loss_G=float(np.mean(g_losses)) if g_losses else None, loss_D=float(np.mean(d_losses)),
                    steps=i + 1, fired=fired)

    # Phase 2: REINFORCE on the controller with the shared GAN fixed.
    def train_controller(self):
        rewards_all, entropies_all = [], []
        for _ in range(self.ctrl_steps):
            samples, _actions, log_probs, entropies, _state = self.sample_children(self.ctrl_batch)
            rewards = torch.tensor([self.child_reward(s) for s in samples], device=self.device)
            self.baseline = update_baseline(self.baseline, rewards, self.baseline_decay)
            loss = reinforce_loss(log_probs, rewards, self.baseline, entropies, self.entropy_weight)
            self.opt_ctrl.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_ctrl.step()
            rewards_all += rewards.tolist()
            entropies_all += entropies.tolist()
        return dict(reward=float(np.mean(rewards_all)) if rewards_all else None,
                    entropy=float(np.mean(entropies_all)) if entropies_all else None)

    def select_beams(self):
        """Sample num_candidates children and rank them by reward: the kept beams, best first."""
        with torch.no_grad():
            samples, _actions, _lp, _ent, (h, c) = self.sample_children(self.num_candidates)
        rewards = [self.child_reward(s) for s in samples]
        return [dict(sample=samples[i], h=h[i].detach().cpu(), c=c[i].detach().cpu(), reward=rewards[i])
                for i in top_k(rewards, self.beam_size)]

    def grow(self):
        """End the current stage: keep the top beams, add the next cell, start a new controller."""
        self.beams = self.select_beams()
        self.stage += 1
        self._new_controller()

    def reset_gan(self):
        """Dynamic reset: fresh shared G and D weights and optimisers; the controller is kept."""
        _reinit(self.G)
        _reinit(self.D)
        self._build_gan_optimizers()
        self.resetter.clear()
        self.num_resets += 1

    def step(self, iteration, data):
        while self.stage < sum(iteration >= it for it in self.grow_iters):
            self.grow()
        if self.reset_baseline:
            self.baseline = None
        shared = self.train_shared(data)
        ctrl = self.train_controller()
        if shared['fired']:
            self.reset_gan()
        if iteration + 1 == self.num_iters:
            self.found = [(b['sample'], b['reward']) for b in self.select_beams()]
        self.G.set_arch(self.current_best()) # the fakes grids show the result so far
        return {'Loss/G': shared['loss_G'], 'Loss/D': shared['loss_D'], 'Search/reward': ctrl['reward'],
                'Search/baseline': self.baseline, 'Search/entropy': ctrl['entropy'], 'Search/stage': self.stage,
                'Search/shared_steps': shared['steps'], 'Search/reset': float(shared['fired'])}

    # Results.
    def current_best(self):
        """The result so far: the final ranking's best, else the best beam continued greedily by the controller."""
        if self.found is not None:
            return self.found[0][0]
        with torch.no_grad():
            beam = self.beams[0]
            initial = None if beam['h'] is None else (beam['h'][None].to(self.device), beam['c'][None].to(self.device))
            actions, _probs = self.controller.greedy(initial)
        return beam['sample'] + self._split(actions[0].tolist())

    def best_within_budget(self):
        """current_best(), or with a budget it breaks, the best ranked child within it, else the cheapest fit."""
        sample = self.current_best()
        if not self.within_budget(sample):
            ranked = [s for s, _reward in self.found or []] + [beam['sample'] for beam in self.beams]
            sample = next((s for s in ranked if self.within_budget(s)), self.fallback)
        return sample

    def derive(self, **provenance):
        """Genotype of best_within_budget()."""
        return self.sample_genotype(self.best_within_budget(), **provenance)

    def ranked_genotypes(self, k, **provenance):
        """The final ranking's k best children within budget, best first, with their rewards: the candidates
        Sec. 3.3.2 re-trains from scratch (before the last iteration, or none within budget: the result so far)."""
        ranking = [(s, reward) for s, reward in self.found or [] if self.within_budget(s)]
        ranking = ranking or [(self.best_within_budget(), None)]
        return [dict(genotype=self.sample_genotype(sample, **provenance), source=f'beam {i + 1}', search_score=reward)
                for i, (sample, reward) in enumerate(ranking[:k])]

    def sample_genotype(self, sample, **provenance):
        """Genotype of a sample; cells not searched yet take the first choice of every token, no skips.
        channels.g_channels is the re-training width (train.py --genotype builds it); the search's is in extra."""
        searched = len(sample)
        sample = self._complete(sample)
        extra = dict(provenance.pop('extra', None) or {}, searched_cells=searched, search_g_channels=self.G.g_channels)
        provenance = dict(dict(method='autogan'), **provenance, extra=extra)
        return autogan_space.sample_to_genotype(sample, resolution=self.G.img_resolution,
                                                g_channels=self.derived_channels, **provenance)

    def arch_weights(self):
        """{'<cell>.<token>': {choice: prob}} for every token of every cell, keys fixed over the run: kept cells =
        the share of beams with each choice; the current cell = the controller's step probabilities along its
        greedy path from the best beam; later cells = uniform. Skip-ins as one on/off entry per source."""
        beam = self.beams[0]
        initial = None if beam['h'] is None else (beam['h'][None].to(self.device), beam['c'][None].to(self.device))
        _actions, probs = self.controller.greedy(initial)
        probs = [p.cpu().numpy() for p in probs]
        weights = dict()
        for s, cell in enumerate(primitives.AUTOGAN_CELLS):
            sizes = primitives.autogan_token_sizes(s)
            if s in self._controller_cells():
                rows, probs = probs[:len(sizes)], probs[len(sizes):]
            elif s < self.stage:
                rows = [np.bincount([b['sample'][s][t] for b in self.beams], minlength=n) / len(self.beams)
                        for t, n in enumerate(sizes)]
            else:
                rows = [np.full(n, 1 / n) for n in sizes]
            for (name, choices), row in zip(primitives.AUTOGAN_TOKENS, rows):
                labels = [{False: 'off', True: 'on'}.get(ch, ch) if isinstance(ch, bool) else ch for ch in choices]
                weights[f'{cell}.{name}'] = {label: float(p) for label, p in zip(labels, row)}
            for i, src in enumerate(primitives.AUTOGAN_CELLS[:s]):
                bit = 1 << (s - 1 - i)
                on = sum(float(p) for pattern, p in enumerate(rows[-1]) if pattern & bit)
                weights[f'{cell}.skip.{src}'] = dict(off=1 - on, on=on)
        return weights

    # Checkpoints.
    def state_dict(self):
        return dict(G=self.G.state_dict(), D=self.D.state_dict(), opt_G=self.opt_G.state_dict(),
                    opt_D=self.opt_D.state_dict(), controller=self.controller.state_dict(),
                    opt_ctrl=self.opt_ctrl.state_dict(), stage=self.stage, beams=self.beams, found=self.found,
                    baseline=self.baseline, num_resets=self.num_resets, resetter=self.resetter.state_dict(),
                    generator=self.generator.get_state(), sample=self.G.sample)

    def load_state_dict(self, state):
        self.G.load_state_dict(state['G'])
        self.D.load_state_dict(state['D'])
        self.opt_G.load_state_dict(state['opt_G'])
        self.opt_D.load_state_dict(state['opt_D'])
        self.stage = state['stage']
        self._new_controller()
        self.controller.load_state_dict(state['controller'])
        self.opt_ctrl.load_state_dict(state['opt_ctrl'])
        self.beams = [dict(b, sample=[tuple(t) for t in b['sample']]) for b in state['beams']]
        self.found = None if state['found'] is None else [([tuple(t) for t in s], r) for s, r in state['found']]
        self.baseline = state['baseline']
        self.num_resets = state['num_resets']
        self.resetter.load_state_dict(state['resetter'])
        self.generator.set_state(state['generator'])
        self.G.set_arch(state['sample'])

#----------------------------------------------------------------------------
# search.py --method=autogan: the shared GAN trains on all the data; a dominating deconv is a normal choice here.

def describe(algorithm, G, dataset, c):
    train_images = len(dataset) - round(len(dataset) * c.val_fraction)
    steps = algorithm.shared_steps or algorithm.shared_epochs * math.ceil(train_images / c.batch_size)
    ctrl = [sum(p.numel() for p in Controller(primitives.autogan_token_sizes(s), algorithm.hidden_size).parameters())
            for s in range(len(primitives.AUTOGAN_CELLS))]
    if algorithm.single_level:
        ctrl = [sum(p.numel() for p in algorithm.controller.parameters())]
    per = 'one controller for every cell (single level)' if algorithm.single_level else 'one controller per cell'
    return [f'Controller parameters:  {", ".join(str(n) for n in ctrl)} ({per})',
            f'Schedule:               {c.num_iters} iterations of {steps} D steps and {algorithm.ctrl_steps} '
            f'controller steps; cells added after iterations {list(algorithm.grow_iters)}',
            f'G parameters:           {sum(p.numel() for p in G.parameters())} (shared G)']

def max_candidates(c):
    """Its final ranking: the beam_size best of num_candidates children."""
    kwargs = c.algorithm_kwargs
    return (min(kwargs.beam_size, kwargs.num_candidates),
            f'its final beam, --beam-size={kwargs.beam_size} of --num-candidates={kwargs.num_candidates}')

@methods.register('autogan', backbones=['autogan'], iters=90, n_critic=5, collapse_kwargs=dict(watch_ops=[]),
                  describe=describe, max_candidates=max_candidates, options=['shared_epochs', 'shared_steps', 'ctrl_steps', 'ctrl_batch', 'ctrl_lr',
                  'entropy_weight', 'grow_iters', 'single_level', 'num_candidates', 'beam_size', 'dynamic_reset', 'reset_stat',
                  'reset_threshold',
                  'reset_baseline', 'reward', 'reward_samples', 'reward_real', 'detector', 'g_batch'])
def configure(opts, c):
    if opts.single_level and opts.grow_iters is not None:
        raise dnnlib.util.UserError('--grow-iters: a --single-level search adds no cells')
    grow_iters = [] if opts.single_level else grow_schedule(c.num_iters) if opts.grow_iters is None else opts.grow_iters
    if sorted(set(grow_iters)) != grow_iters or not all(0 < it < c.num_iters for it in grow_iters) \
            or len(grow_iters) > 2:
        raise dnnlib.util.UserError(f'--grow-iters: {",".join(map(str, grow_iters))}: at most two increasing '
                                    f'iterations in 1..{c.num_iters - 1} (three cells)')
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.autogan.AutoGAN', num_iters=c.num_iters,
        grow_iters=grow_iters, single_level=opts.single_level, shared_epochs=opts.shared_epochs, shared_steps=opts.shared_steps,
        n_critic=opts.n_critic, g_batch=opts.g_batch, lr=opts.lr, betas=[0.0, 0.9], ctrl_lr=opts.ctrl_lr,
        ctrl_betas=[0.0, 0.9], ctrl_steps=opts.ctrl_steps, ctrl_batch=opts.ctrl_batch,
        entropy_weight=opts.entropy_weight, num_candidates=opts.num_candidates, beam_size=opts.beam_size,
        reset_baseline=opts.reset_baseline, dynamic_reset=opts.dynamic_reset, reset_threshold=opts.reset_threshold,
        reset_stat=opts.reset_stat,
        **reward_config(opts, c), seed=opts.seed)
    return ''

#----------------------------------------------------------------------------
