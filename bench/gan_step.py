"""One StyleGAN2 G+D training step of a StyleGAN2-ADA-shaped code base, for bench/train_step.py --peer: run as
`python bench/gan_step.py --root=DIR`, it imports training.* and torch_utils.* from DIR only (this repository or a
stylegan2-ada-pytorch checkout: the two share package names, hence one process per code base) and prints the median
seconds per step as JSON on its last line, with the median CPU time per step (all threads), which moves less with the
load of a shared machine than the wall time does.

A step is what both training loops do per minibatch, without G_ema and augmentation: for each phase, zero the
gradients, let the phase's network take gradients, accumulate the phase's loss, and take an Adam step (lr 0.0025,
betas 0 and 0.99). Phases: Gmain and Dmain; with --reg also Greg (path length) and Dreg (R1), i.e. a step at which both
lazy regularisers are due, at the gain of the paper's intervals (4 and 16).
"""

import argparse
import inspect
import json
import sys

from step_timer import time_steps # bench/, the script's directory

#----------------------------------------------------------------------------

def build(root, device, resolution, channels, batch, map_layers, reg, seed, cbase=None, fp16_res=0):
    sys.path.insert(0, root)
    import torch
    from training import loss as loss_module
    try:
        from training import networks_stylegan2 as networks # ours
    except ImportError:
        from training import networks # stylegan2-ada-pytorch
    torch.manual_seed(seed)
    common = dict(channel_base=cbase or channels * resolution, channel_max=channels, num_fp16_res=fp16_res, conv_clamp=256)
    G = networks.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                           mapping_kwargs=dict(num_layers=map_layers), synthesis_kwargs=common)
    D = networks.Discriminator(c_dim=0, img_resolution=resolution, img_channels=3, **common)
    device = torch.device(device)
    G, D = G.to(device), D.to(device)
    params = inspect.signature(loss_module.StyleGAN2Loss).parameters
    if 'G_mapping' in params: # stylegan2-ada-pytorch: accumulate_gradients(phase, real_img, real_c, gen_z, gen_c, sync, gain)
        loss = loss_module.StyleGAN2Loss(device=device, G_mapping=G.mapping, G_synthesis=G.synthesis, D=D)
        accumulate = lambda phase, real, z, gain: loss.accumulate_gradients(phase, real, c, z, c, True, gain)
    else: # ours: accumulate_gradients(phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg)
        loss = loss_module.StyleGAN2Loss(device=device, G=G, D=D)
        accumulate = lambda phase, real, z, gain: loss.accumulate_gradients(phase, real, c, z, c, gain, 0)
    c = torch.zeros([batch, 0], device=device)
    opts = {name: torch.optim.Adam(module.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
            for name, module in [('G', G), ('D', D)]}
    modules = dict(G=G, D=D)
    phases = [('Gmain', 1), ('Dmain', 1)] + ([('Greg', 4), ('Dreg', 16)] if reg else [])
    for module in modules.values():
        module.requires_grad_(False)
    real = torch.rand([batch, 3, resolution, resolution], device=device) * 2 - 1

    def step():
        for phase, gain in phases:
            module, opt = modules[phase[0]], opts[phase[0]]
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            accumulate(phase, real, torch.randn([batch, 512], device=device), gain)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        if device.type == 'cuda':
            torch.cuda.synchronize()
    return step

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--channels', type=int, default=128, help='channel_max; also every layer\'s width without --cbase')
    parser.add_argument('--cbase', type=int, default=None, help='channel_base (default: channels x resolution)')
    parser.add_argument('--fp16-res', type=int, default=0, help='FP16 on the N highest resolutions (CUDA)')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--map', type=int, default=2)
    parser.add_argument('--reg', action='store_true')
    parser.add_argument('--steps', type=int, default=3)
    args = parser.parse_args()
    step = build(args.root, args.device, args.resolution, args.channels, args.batch, args.map, args.reg, seed=0,
                 cbase=args.cbase, fp16_res=args.fp16_res)
    print(json.dumps(time_steps(step, args.steps)))

#----------------------------------------------------------------------------

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
