"""Fused multiply-add `a * b + c` with broadcasting, used by StyleGAN2's demodulation + noise step."""

import torch

#----------------------------------------------------------------------------

def fma(a, b, c):
    """Return `a * b + c` in one kernel (torch.addcmul); gradients are reduced to each input's shape."""
    return torch.addcmul(c, a, b)

#----------------------------------------------------------------------------
