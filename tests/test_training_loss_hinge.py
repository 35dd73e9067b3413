"""HingeLoss: the gradients of each phase equal the hinge formulas' gradients, and each phase moves only its network."""

import pytest
import torch
import torch.nn.functional as F

from training.loss import HingeLoss

#----------------------------------------------------------------------------
# Tiny G (linear z -> 1x4x4 image) and D (linear image -> logit).

def make_nets():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 4, 4)))
    D_lin = torch.nn.Linear(16, 1)
    class D(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = D_lin
        def forward(self, img, c=None):
            return self.lin(img.flatten(1))
    class Gen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = G
        def forward(self, z, c=None):
            return self.net(z)
    return Gen(), D()

def grads(module):
    return [p.grad.clone() if p.grad is not None else None for p in module.parameters()]

@pytest.mark.parametrize('phase', ['Dmain', 'Dboth'])
def test_d_phase_matches_formula(phase):
    G, D = make_nets()
    loss = HingeLoss(device='cpu', G=G, D=D)
    real = torch.randn([5, 1, 4, 4])
    z = torch.randn([5, 3])
    loss.accumulate_gradients(phase=phase, real_img=real, real_c=None, gen_z=z, gen_c=None, gain=0.5, cur_nimg=0)
    got = grads(D)
    assert all(g is None for g in grads(G)) # the D phase leaves G alone
    D.zero_grad()
    ref = 0.5 * (F.relu(1 - D(real)).mean() + F.relu(1 + D(G(z).detach())).mean())
    ref.backward()
    for a, b in zip(got, grads(D)):
        assert torch.allclose(a, b)

@pytest.mark.parametrize('phase', ['Gmain', 'Gboth'])
def test_g_phase_matches_formula(phase):
    G, D = make_nets()
    loss = HingeLoss(device='cpu', G=G, D=D)
    z = torch.randn([5, 3])
    loss.accumulate_gradients(phase=phase, real_img=None, real_c=None, gen_z=z, gen_c=None, gain=2.0, cur_nimg=0)
    got = grads(G)
    assert all(g is None for g in grads(D)) # D is frozen during the G phase
    assert all(p.requires_grad for p in D.parameters()) # and unfrozen afterwards
    G.zero_grad()
    (2.0 * -D(G(z)).mean()).backward()
    for a, b in zip(got, grads(G)):
        assert torch.allclose(a, b)

def test_reg_phases_do_nothing():
    G, D = make_nets()
    loss = HingeLoss(device='cpu', G=G, D=D)
    for phase in ['Greg', 'Dreg']:
        loss.accumulate_gradients(phase=phase, real_img=torch.randn([2, 1, 4, 4]), real_c=None,
                                  gen_z=torch.randn([2, 3]), gen_c=None, gain=1, cur_nimg=0)
    assert all(g is None for g in grads(G) + grads(D))
    with pytest.raises(AssertionError):
        loss.accumulate_gradients(phase='Dr1', real_img=None, real_c=None, gen_z=None, gen_c=None, gain=1, cur_nimg=0)

#----------------------------------------------------------------------------
