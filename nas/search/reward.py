"""Reward of a child architecture for the RL and random searches (AutoGAN, Gong et al. 2019, Sec. 3.3.2): its
Inception Score, 1/FID (Sec. 5.1), or any function of the generator."""

import torch

import dnnlib
from training.training_loop import isolated_rng

REWARDS = ('is', 'fid')

#----------------------------------------------------------------------------
# 'is', 'fid' or a 'module.function' name (JSON-able for the config), resolved once.

def resolve_reward(reward):
    if isinstance(reward, str) and reward not in REWARDS:
        reward = dnnlib.util.get_obj_by_name(reward)
    assert callable(reward) or reward in REWARDS
    return reward

#----------------------------------------------------------------------------
# Scores a generator, higher is better: in eval mode without gradients, its training mode restored after, and
# without moving the search's random streams (a measurement, like the training loop's metrics). A metric
# reward goes through metrics.fast.FastEvaluator, built at the first call, against real images at the side of the
# child's output (average-pooled, as the shared D reads them, for AutoGAN's stage-0/1 children); the real
# statistics of each side are computed once.

class RewardEvaluator:
    def __init__(self, device,
        reward          = 'is',         # 'is', 'fid' (reward 1/FID), callable(G) -> float or its dotted name.
        num_samples     = 5000,         # Images per FID/IS.
        evaluator_kwargs = {},          # metrics.fast.FastEvaluator options (dataset_kwargs or real_stats, detector).
        note            = None,         # One line printed at construction (the run's log): the reward and why.
    ):
        if note is not None:
            print(note)
        self.device = device
        self.reward = resolve_reward(reward)
        self.num_samples = num_samples
        self.evaluator_kwargs = dict(evaluator_kwargs)
        self.evaluator = None

    def _evaluate(self, G):
        if callable(self.reward):
            return float(self.reward(G))
        if self.evaluator is None:
            from metrics.fast import FastEvaluator # loaded only for a metric reward
            self.evaluator = FastEvaluator(**{'device': self.device, **self.evaluator_kwargs})
        result = self.evaluator(G, num_gen=self.num_samples)
        if self.reward == 'fid':
            return 1 / result.fid
        if result.is_mean is None:
            raise dnnlib.util.UserError('--reward=is: the detector has no logits (offline detector); '
                                        'use --reward=fid or an Inception detector')
        return float(result.is_mean)

    @torch.no_grad()
    def __call__(self, G):
        was_training = G.training
        G.eval()
        try:
            with isolated_rng(torch.device(self.device)):
                return self._evaluate(G)
        finally:
            G.train(was_training)

#----------------------------------------------------------------------------
# search.py's reward options (AutoGAN and random search) as RewardEvaluator options. The offline detector (the
# default) has no logits, so it gives FID only.

def detector_has_logits(spec):
    """True/False where it can be told without a download (alias or local file), None for another URL."""
    from metrics import detectors
    if spec in [None, 'offline']:
        detectors.offline_detector_path() # fails with one line when the package is missing
        return False
    if spec in detectors.DETECTOR_ALIASES:
        return spec != 'vgg16'
    if dnnlib.util.is_url(spec) and not spec.startswith('file://'):
        return None
    try:
        return detectors.get_feature_detector(spec, device='cpu').has_logits
    except dnnlib.util.UserError as err:
        raise dnnlib.util.UserError(f'--detector: {str(err).removeprefix("detector ")}') from err

def reward_note(reward, detector, defaulted):
    """The one line the run's log and report say about the reward."""
    if reward == 'is':
        return f'Reward: Inception Score (detector {detector or "offline"})'
    why = f' (the default: the detector {detector or "offline"} has no logits, so no Inception Score)' if defaulted else ''
    return f'Reward: 1/FID{why}'

def reward_config(opts, c):
    has_logits = detector_has_logits(opts.detector)
    reward = opts.reward or ('is' if has_logits else 'fid')
    if reward == 'is' and has_logits is False:
        raise dnnlib.util.UserError(f'--reward=is: the detector {opts.detector or "offline"} has no logits, so it '
                                    f'gives no Inception Score; use --reward=fid or --detector=inception')
    evaluator_kwargs = dnnlib.EasyDict(dataset_kwargs=c.training_set_kwargs, max_real=opts.reward_real,
                                       detector=opts.detector, batch_size=min(64, opts.reward_samples)) # no spare images
    note = reward_note(reward, opts.detector, defaulted=opts.reward is None and reward == 'fid')
    return dict(reward=reward, reward_samples=opts.reward_samples, evaluator_kwargs=evaluator_kwargs, reward_note=note)

#----------------------------------------------------------------------------
