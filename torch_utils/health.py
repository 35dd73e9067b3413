"""Run health for training and search: non-finite losses and weights, collapse of a search (the deconv-dominated
failure cases of alphaGAN, Tian et al. 2022, Sec. 5.4.2), and out-of-memory errors turned into one line."""

import collections
import contextlib
import math
import warnings

import torch

import dnnlib

#----------------------------------------------------------------------------
# Errors: both are bad-input errors to the CLIs (one 'Error: ...' line, exit 2).

class NonFiniteError(dnnlib.util.UserError):
    """A loss or a weight became NaN or Inf."""

class CollapseError(dnnlib.util.UserError):
    """A collapse monitor fired with on_collapse='stop'; `event` holds its stats.jsonl dict."""
    def __init__(self, event):
        super().__init__(f'{event["message"]}; stopped by --on-collapse=stop, the last checkpoint is kept')
        self.event = event

#----------------------------------------------------------------------------
# NaN/Inf check of a loss (tensor or number), a module's parameters and buffers, or a dict of them.

def _describe(tensor):
    t = tensor.detach()
    nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
    kinds = [f'{nan} NaN' if nan else '', f'{inf} Inf' if inf else '']
    return ' and '.join(k for k in kinds if k) + f' of {t.numel()} values'

def check_finite(name, value, where=None):
    """Raise NonFiniteError naming `name` (and the parameter inside it, and `where`, e.g. 'kimg 12.0') when
    `value` (a tensor, number, torch.nn.Module or dict of tensors) holds NaN or Inf."""
    suffix = f' at {where}' if where is not None else ''
    if isinstance(value, torch.nn.Module):
        items = list(value.named_parameters()) + list(value.named_buffers())
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        items = [(None, value)]
    for key, tensor in items:
        if not isinstance(tensor, torch.Tensor):
            tensor = torch.as_tensor(tensor)
        if not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()):
            continue
        what = name if key is None else f'{name}.{key}'
        raise NonFiniteError(f'{what} is not finite{suffix} ({_describe(tensor)}); the run stops here, '
                             f'its last checkpoint is the last good state')

#----------------------------------------------------------------------------
# Collapse monitor: each check fires at most once per run; an event is a dict for stats.jsonl.
# 'warn' prints it and carries on, 'stop' raises CollapseError after recording it.

class CollapseMonitor:
    def __init__(self,
        total_steps         = None,     # Length of the run in steps, None = the entropy check applies at any step.
        on_collapse         = 'warn',   # 'warn' = print and continue, 'stop' = raise CollapseError.
        entropy_min         = 0.05,     # Mean normalised entropy of the op distributions counted as collapsed.
        entropy_before      = 0.5,      # Only a collapse before this fraction of total_steps counts.
        watch_ops           = ('deconv',), # Op names whose share of the edges is watched.
        max_op_share        = 0.75,     # Largest share of the edges (that offer the op) one watched op may take.
        min_edges           = 3,        # Fewest decided edges offering a watched op before its share counts.
        loss_window         = 50,       # Losses in the flat-loss window, None = disable.
        loss_min_std        = 1e-6,     # Standard deviation below which the loss counts as flat.
        fid_patience        = 3,        # FID rising this many evaluations in a row fires, None = disable.
        log                 = print,    # Where warnings go (one line each).
    ):
        assert on_collapse in ['warn', 'stop']
        self.total_steps = total_steps
        self.on_collapse = on_collapse
        self.entropy_min = entropy_min
        self.entropy_before = entropy_before
        self.watch_ops = tuple(watch_ops)
        self.max_op_share = max_op_share
        self.min_edges = min_edges
        self.loss_min_std = loss_min_std
        self.fid_patience = fid_patience
        self.log = log
        self.losses = collections.deque(maxlen=loss_window) if loss_window else None
        self.fids = []
        self.events = []
        self.fired = set()

    def _fire(self, check, step, value, threshold, message):
        if check in self.fired:
            return []
        self.fired.add(check)
        event = dict(event='collapse', check=check, step=step, value=value, threshold=threshold,
                     action=self.on_collapse, message=f'collapse warning at step {step}: {message}')
        self.events.append(event)
        self.log(event['message'])
        if self.on_collapse == 'stop':
            raise CollapseError(event)
        return [event]

    def check_entropy(self, step, entropy):
        """`entropy`: normalised to [0, 1] (1 = uniform over the candidates), e.g. of a controller's policy."""
        if self.total_steps is not None and step >= self.entropy_before * self.total_steps:
            return []
        if entropy >= self.entropy_min:
            return []
        return self._fire('entropy', step, float(entropy), self.entropy_min,
                          f'architecture entropy {entropy:.3g} < {self.entropy_min:g} before '
                          f'{self.entropy_before:.0%} of the run; the search has stopped exploring')

    def check_alphas(self, step, alphas, op_names):
        """`alphas`: one [edges, ops] tensor per group (as arch_parameters() gives them); `op_names`: the
        candidate names of each group's columns. Checks their entropy and the share of the watched ops."""
        entropies, chosen = [], collections.Counter()
        offered = collections.Counter()
        for alpha, names in zip(alphas, op_names):
            alpha = alpha.detach().double().reshape(-1, alpha.shape[-1])
            assert alpha.shape[1] == len(names), 'op_names must name every column of the alphas'
            p = alpha.softmax(dim=-1)
            h = -(p * p.clamp(min=1e-30).log()).sum(dim=-1)
            entropies += (h / math.log(len(names)) if len(names) > 1 else torch.zeros_like(h)).tolist()
            decided = (p.amax(dim=-1) - p.amin(dim=-1)) > 1e-6 # a uniform edge has chosen nothing yet
            chosen.update(names[i] for i in alpha[decided].argmax(dim=-1).tolist())
            offered.update({name: int(decided.sum()) for name in names})
        events = self.check_entropy(step, sum(entropies) / len(entropies))
        for name in self.watch_ops:
            if offered[name] < max(self.min_edges, 1):
                continue
            share = chosen[name] / offered[name]
            if share > self.max_op_share:
                events += self._fire(f'op_share.{name}', step, share, self.max_op_share,
                                     f'{name} is chosen on {chosen[name]} of {offered[name]} edges ({share:.0%}), as '
                                     f'in alphaGAN\'s failure cases; consider a search space without it')
        return events

    def check_probs(self, step, probs):
        """`probs`: {edge: {op name: probability}} as SearchAlgorithm.arch_weights() gives them. W selectors
        ('w.<layer>') and single-choice edges are left out; edges offering the same ops form one group."""
        groups = collections.defaultdict(list)
        for edge, row in probs.items():
            if not edge.startswith('w.') and len(row) > 1:
                groups[tuple(row)].append([float(p) for p in row.values()])
        if not groups:
            return []
        alphas = [torch.tensor(rows, dtype=torch.float64).clamp(min=1e-30).log() for rows in groups.values()]
        return self.check_alphas(step, alphas, list(groups))

    def check_loss(self, step, loss):
        if self.losses is None or not math.isfinite(loss): # NaN is check_finite()'s business, not a flat loss
            return []
        self.losses.append(float(loss))
        if len(self.losses) < self.losses.maxlen:
            return []
        std = float(torch.tensor(list(self.losses), dtype=torch.float64).std())
        if std >= self.loss_min_std:
            return []
        return self._fire('loss_flat', step, std, self.loss_min_std,
                          f'loss std {std:.3g} over the last {len(self.losses)} steps; training has stalled')

    def check_fid(self, step, fid):
        if not math.isfinite(fid):
            return []
        self.fids.append(float(fid))
        n = self.fid_patience
        if n is None or len(self.fids) <= n:
            return []
        recent = self.fids[-(n + 1):]
        if not all(b > a for a, b in zip(recent[:-1], recent[1:])):
            return []
        return self._fire('fid_rising', step, recent[-1], recent[0],
                          f'FID rose for {n} evaluations in a row ({recent[0]:.4g} -> {recent[-1]:.4g})')

    def state_dict(self):
        return dict(losses=list(self.losses or []), fids=list(self.fids), fired=sorted(self.fired))

    def load_state_dict(self, state):
        if self.losses is not None:
            self.losses.clear()
            self.losses.extend(state['losses'])
        self.fids = list(state['fids'])
        self.fired = set(state['fired'])

#----------------------------------------------------------------------------
# Out of memory: one line naming the option to lower instead of a CUDA traceback.

@contextlib.contextmanager
def oom_guard(option='--batch-gpu', what='this step'):
    """Turn torch.cuda.OutOfMemoryError and MemoryError raised inside the block into a UserError."""
    try:
        yield
    except (torch.cuda.OutOfMemoryError, MemoryError) as err:
        device = 'GPU' if isinstance(err, torch.cuda.OutOfMemoryError) else 'CPU'
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        raise dnnlib.util.UserError(f'out of {device} memory in {what}; lower {option} '
                                    f'(micro-batches are accumulated, so results do not change)') from None

#----------------------------------------------------------------------------
