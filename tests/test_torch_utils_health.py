"""Tests for torch_utils.health: NaN/Inf checks, collapse monitors (alphaGAN's deconv failure case on the real
conventional supernet), out-of-memory guard."""

import json
import math

import pytest
import torch

import dnnlib
from torch_utils import health
from nas.space.supernet_conventional import SupernetGenerator

#----------------------------------------------------------------------------
# NaN/Inf.

def test_finite_values_pass():
    health.check_finite('loss', torch.tensor(0.5))
    health.check_finite('loss', 3.0)
    health.check_finite('G', torch.nn.Linear(3, 2))
    health.check_finite('counters', dict(step=torch.tensor(3), w=torch.ones(2)))

def test_nan_loss_raises_one_line_naming_it():
    with pytest.raises(health.NonFiniteError) as info:
        health.check_finite('Loss/G/loss', torch.tensor([1.0, float('nan'), 2.0]), where='kimg 12.0')
    message = str(info.value)
    assert isinstance(info.value, dnnlib.util.UserError)
    assert '\n' not in message
    assert message.startswith('Loss/G/loss is not finite at kimg 12.0 (1 NaN of 3 values)')
    with pytest.raises(health.NonFiniteError, match=r'^loss is not finite \(1 Inf of 1 values\)'):
        health.check_finite('loss', float('inf'))

def test_injected_nan_in_weights_names_the_parameter():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    health.check_finite('D', net)
    with torch.no_grad():
        net[2].weight[1, 3] = float('nan')
        net[2].weight[0, 0] = float('-inf')
    with pytest.raises(health.NonFiniteError, match=r'^D\.2\.weight is not finite \(1 NaN and 1 Inf of 8 values\)'):
        health.check_finite('D', net)

#----------------------------------------------------------------------------
# Collapse: alphas of the real supernet, with the op names of each alpha group.

def supernet_alphas():
    torch.manual_seed(0)
    G = SupernetGenerator(z_dim=8, g_channels=4)
    op_names = [G.candidates[rows[0][2]] for rows in G.layout.values()]
    return G, op_names

def test_healthy_alphas_fire_nothing():
    G, op_names = supernet_alphas()
    logged = []
    monitor = health.CollapseMonitor(total_steps=100, log=logged.append)
    assert monitor.check_alphas(1, G.arch_parameters(), op_names) == []
    assert logged == [] and monitor.events == []

def test_forcing_alphas_onto_deconv_fires_collapse_warning():
    G, op_names = supernet_alphas()
    with torch.no_grad():
        for alpha, names in zip(G.arch_parameters(), op_names):
            if 'deconv' in names:
                alpha[:, names.index('deconv')] = 20
    logged = []
    monitor = health.CollapseMonitor(total_steps=100, log=logged.append)
    events = monitor.check_alphas(10, G.arch_parameters(), op_names)
    assert [e['check'] for e in events] == ['op_share.deconv']
    assert events[0]['value'] == 1.0 and events[0]['step'] == 10 and events[0]['action'] == 'warn'
    assert 'deconv is chosen on 9 of 9 edges' in logged[0] # 2 up edges x 3 cells + 3 skip edges
    json.dumps(events) # goes to stats.jsonl as it is
    assert monitor.check_alphas(11, G.arch_parameters(), op_names) == [] # once per run

def test_entropy_collapse_fires_only_early():
    G, op_names = supernet_alphas()
    with torch.no_grad():
        for alpha in G.arch_parameters():
            alpha[:, -1] = 30 # every edge one-hot on its last candidate (never deconv)
    late = health.CollapseMonitor(total_steps=100, log=lambda line: None)
    assert late.check_alphas(60, G.arch_parameters(), op_names) == []
    early = health.CollapseMonitor(total_steps=100, log=lambda line: None)
    events = early.check_alphas(20, G.arch_parameters(), op_names)
    assert [e['check'] for e in events] == ['entropy']
    assert events[0]['value'] < 1e-9

def test_entropy_is_normalised_against_reference():
    monitor = health.CollapseMonitor(entropy_min=0.999, log=lambda line: None)
    assert monitor.check_alphas(0, [torch.zeros(2, 3)], [('a', 'b', 'c')]) == [] # uniform: entropy 1
    p = torch.tensor([0.7, 0.2, 0.1])
    h = float(-(p * p.log()).sum() / math.log(3))
    events = monitor.check_alphas(1, [p.log().reshape(1, 3)], [('a', 'b', 'c')])
    assert events[0]['value'] == pytest.approx(h, rel=1e-6)

def test_stop_raises_with_the_event():
    G, op_names = supernet_alphas()
    with torch.no_grad():
        for alpha, names in zip(G.arch_parameters(), op_names):
            if 'deconv' in names:
                alpha[:, names.index('deconv')] = 20
    monitor = health.CollapseMonitor(on_collapse='stop', log=lambda line: None)
    with pytest.raises(health.CollapseError, match='deconv') as info:
        monitor.check_alphas(5, G.arch_parameters(), op_names)
    assert info.value.event['check'] == 'op_share.deconv' and info.value.event['action'] == 'stop'
    assert monitor.events == [info.value.event]

def test_flat_loss_window():
    monitor = health.CollapseMonitor(loss_window=4, loss_min_std=1e-4, log=lambda line: None)
    for step, loss in enumerate([1.0, 0.5, 0.7, 0.2, 0.6]):
        assert monitor.check_loss(step, loss) == []
    fired = [monitor.check_loss(step, 0.693147) for step in range(5, 9)]
    assert fired[:3] == [[], [], []] and fired[3][0]['check'] == 'loss_flat' and fired[3][0]['step'] == 8

def test_fid_rising_for_n_evaluations():
    monitor = health.CollapseMonitor(fid_patience=3, log=lambda line: None)
    results = [monitor.check_fid(i, fid) for i, fid in enumerate([50, 40, 45, 44, 46, 47, 48])]
    assert [bool(r) for r in results] == [False] * 6 + [True] # 44 -> 46 -> 47 -> 48: three rises in a row
    assert results[-1][0]['value'] == 48 and results[-1][0]['threshold'] == 44

def test_monitor_state_round_trip():
    a = health.CollapseMonitor(loss_window=3, fid_patience=2, log=lambda line: None)
    for step, (loss, fid) in enumerate([(1.0, 30), (1.0, 31)]):
        a.check_loss(step, loss)
        a.check_fid(step, fid)
    b = health.CollapseMonitor(loss_window=3, fid_patience=2, log=lambda line: None)
    b.load_state_dict(a.state_dict())
    assert [e['check'] for e in b.check_loss(2, 1.0) + b.check_fid(2, 32)] == ['loss_flat', 'fid_rising']

#----------------------------------------------------------------------------
# Out of memory.

@pytest.mark.parametrize('error', [torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2 GiB'),
                                   MemoryError()])
def test_oom_guard_names_the_option(error):
    with pytest.raises(dnnlib.util.UserError) as info:
        with health.oom_guard('--batch-gpu', what='the D phase'):
            raise error
    message = str(info.value)
    assert '\n' not in message and '--batch-gpu' in message and 'the D phase' in message
    assert ('GPU' if isinstance(error, torch.cuda.OutOfMemoryError) else 'CPU') in message

def test_oom_guard_passes_other_errors():
    with pytest.raises(ValueError):
        with health.oom_guard():
            raise ValueError('not memory')
    with health.oom_guard():
        pass

#----------------------------------------------------------------------------
