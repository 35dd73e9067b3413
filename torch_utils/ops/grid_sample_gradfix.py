"""Bilinear grid_sample with derivatives of every order, for R1 through the geometric augmentations of
ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data")."""

import torch

#----------------------------------------------------------------------------
# Written with gathers instead of torch.nn.functional.grid_sample because PyTorch (2.11 on CUDA, for
# one) raises "derivative for aten::grid_sampler_2d_backward is not implemented" in double backward.

def grid_sample(input, grid):
    """Same result as torch.nn.functional.grid_sample(input, grid, mode='bilinear', padding_mode='zeros',
    align_corners=False), differentiable any number of times w.r.t. both `input` and `grid`.

    Args:
        input: Tensor [batch_size, num_channels, in_height, in_width].
        grid:  Sampling positions [batch_size, out_height, out_width, 2] as (x, y) in [-1, 1], where
               -1 and +1 are the outer edges of the corner pixels.

    Returns:
        Tensor [batch_size, num_channels, out_height, out_width].
    """
    assert input.ndim == 4 and grid.ndim == 4 and grid.shape[0] == input.shape[0] and grid.shape[3] == 2
    batch_size, num_channels, in_height, in_width = input.shape
    out_height, out_width = grid.shape[1:3]
    grid = grid.to(input.dtype)

    # Pixel coordinates: pixel centres at integers.
    px = ((grid[..., 0] + 1) * in_width - 1) / 2
    py = ((grid[..., 1] + 1) * in_height - 1) / 2
    x0 = px.detach().floor().nan_to_num(-2) # a NaN position reads zero, weighted by NaN, as in torch
    y0 = py.detach().floor().nan_to_num(-2)
    fx = px - x0 # the weights carry the gradient w.r.t. the grid
    fy = py - y0

    # Sum of the four neighbours; those outside the image read zero.
    flat = input.reshape(batch_size, num_channels, in_height * in_width)
    out = 0
    for yy, wy in [(y0, 1 - fy), (y0 + 1, fy)]:
        for xx, wx in [(x0, 1 - fx), (x0 + 1, fx)]:
            inside = (xx >= 0) & (xx <= in_width - 1) & (yy >= 0) & (yy <= in_height - 1)
            index = yy.clamp(0, in_height - 1) * in_width + xx.clamp(0, in_width - 1)
            index = index.long().reshape(batch_size, 1, -1).expand(-1, num_channels, -1)
            values = flat.gather(2, index).reshape(batch_size, num_channels, out_height, out_width)
            out = out + values * (wx * wy * inside.to(input.dtype)).unsqueeze(1)
    return out

#----------------------------------------------------------------------------
