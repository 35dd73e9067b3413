"""Collect scalar statistics during training and reduce them across processes (StyleGAN2-ADA training_stats)."""

import re

import numpy as np
import torch

import dnnlib

#----------------------------------------------------------------------------
# Module state, set by init_multiprocessing(); moments are [count, sum, sum of squares] in float64.

_reduce_dtype = torch.float64 # float32 sums lose precision over a long tick
_rank = 0                     # rank of this process; report0() reports only on rank 0
_sync_device = None           # device for all_reduce; None = no reduction across processes
_counters = dict()            # {name: {device: moments}}: reported since the last sync
_cumulative = dict()          # {name: moments on CPU}: totals over all processes since start

#----------------------------------------------------------------------------
# Set up reduction across processes; call once per process before the first report().

def init_multiprocessing(rank, sync_device):
    """rank: this process's rank; sync_device: device whose tensors all_reduce accepts (cuda for nccl,
    cpu for gloo), or None for a single process."""
    global _rank, _sync_device
    _rank = rank
    _sync_device = torch.device(sync_device) if sync_device is not None else None

#----------------------------------------------------------------------------
# Report a scalar or the elements of a tensor under `name`; returns `value` so it can wrap an expression.

def report(name, value):
    """Accumulate count, sum and sum of squares of the elements of `value` (scalar, list or tensor).

    Every process must report the same set of names (an empty value counts), because Collector.update()
    reduces them together.
    """
    if name not in _counters:
        _counters[name] = dict()
    elems = torch.as_tensor(value)
    if elems.numel() == 0:
        return value
    elems = elems.detach().flatten().to(_reduce_dtype)
    moments = torch.stack([torch.ones_like(elems).sum(), elems.sum(), elems.square().sum()])
    counters = _counters[name]
    if moments.device not in counters:
        counters[moments.device] = torch.zeros_like(moments)
    counters[moments.device].add_(moments)
    return value

def report0(name, value):
    """Like report(), but only rank 0 contributes; the others register the name with no data."""
    report(name, value if _rank == 0 else [])
    return value

#----------------------------------------------------------------------------
# Move everything reported since the last sync into the cumulative totals, reduced across processes.

def _sync(names):
    if len(names) == 0:
        return []
    device = _sync_device if _sync_device is not None else torch.device('cpu')
    deltas = torch.zeros([len(names), 3], dtype=_reduce_dtype, device=device)
    for idx, name in enumerate(names):
        for counter in _counters[name].values():
            deltas[idx].add_(counter.to(device))
            counter.zero_()
    if _sync_device is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(deltas)
    deltas = deltas.cpu()
    for idx, name in enumerate(names):
        if name not in _cumulative:
            _cumulative[name] = torch.zeros([3], dtype=_reduce_dtype)
        _cumulative[name].add_(deltas[idx])
    return [(name, _cumulative[name]) for name in names]

#----------------------------------------------------------------------------
# Collector: statistics over the interval between two update() calls, e.g. one training tick.

class Collector:
    def __init__(self,
        regex           = '.*',     # Names to collect (re.fullmatch).
        keep_previous   = True,     # Keep a name's previous values when it got no new reports.
    ):
        self._regex = re.compile(regex)
        self._keep_previous = keep_previous
        self._cumulative = dict()   # {name: cumulative moments at the last update()}
        self._moments = dict()      # {name: moments over the last interval}
        self.update()
        self._moments.clear()       # start counting from now

    def names(self):
        """Reported names that match the regex, sorted so that every process reduces them in the same order."""
        return sorted(name for name in _counters if self._regex.fullmatch(name))

    def update(self):
        """Close the interval: reduce across processes (every process must call this) and store the moments."""
        if not self._keep_previous:
            self._moments.clear()
        for name, cumulative in _sync(self.names()):
            if name not in self._cumulative:
                self._cumulative[name] = torch.zeros([3], dtype=_reduce_dtype)
            delta = cumulative - self._cumulative[name]
            self._cumulative[name].copy_(cumulative)
            if float(delta[0]) != 0:
                self._moments[name] = delta

    def num(self, name):
        moments = self._moments.get(name)
        return int(moments[0]) if moments is not None else 0

    def mean(self, name):
        moments = self._moments.get(name)
        if moments is None or float(moments[0]) == 0:
            return float('nan')
        return float(moments[1] / moments[0])

    def std(self, name):
        """Population standard deviation (ddof=0) of the values reported in the interval."""
        moments = self._moments.get(name)
        if moments is None or float(moments[0]) == 0:
            return float('nan')
        mean = float(moments[1] / moments[0])
        raw_var = float(moments[2] / moments[0])
        return float(np.sqrt(max(raw_var - np.square(mean), 0)))

    def as_dict(self):
        """{name: EasyDict(num, mean, std)} for every name with data, e.g. one line of stats.jsonl."""
        stats = dnnlib.EasyDict()
        for name in sorted(self._moments):
            stats[name] = dnnlib.EasyDict(num=self.num(name), mean=self.mean(name), std=self.std(name))
        return stats

    def __getitem__(self, name):
        return self.mean(name)

#----------------------------------------------------------------------------
