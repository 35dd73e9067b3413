"""One alphaGAN search iteration of ours or of the official AlphaGAN code, for bench/search_step.py --peer: run as
`python bench/alphagan_iter.py --side=ours|peer --root=DIR`, it builds the conventional search (G supernet and D at
--channels, batch --batch, latent 128, T = S = R = 1 and n_critic 1 on our side; --inner_steps -1, --worst_steps -1
and --outter_steps 1 on the peer's, which its `if step > args.inner_steps: break` loops make one step each), takes one
untimed iteration, times --iters more, and prints on its last line, as JSON, the median seconds per iteration and the
process's peak resident memory; also the median CPU time per iteration, which on a shared machine moves less
with the load than the wall time does (the same with one thread).

Both sides read the same in-memory random batches (no data loading in the timing). The peer's code asks for CUDA
everywhere (`torch.cuda.FloatTensor`, `.cuda()`); on a CPU run this harness points those at the CPU before importing
it and leaves its files as they are. Its TensorFlow and image-writing imports, needed only for IS/FID, are stubbed.
An iteration is the peer's `train_gan_parameter` followed by `train_gan_alpha` (search.py's epoch body with
--fix_alphas_epochs -1), and ours `AlphaGAN.step`.
"""

import argparse
import json
import logging
import os
import resource
import sys
import types

import torch

from step_timer import time_steps # bench/, the script's directory

#----------------------------------------------------------------------------

class _Batches:
    """In-memory random batches of 32x32 images in [-1, 1] with zero labels, cycled in a fixed order."""
    def __init__(self, batch, resolution, count, seed):
        gen = torch.Generator().manual_seed(seed)
        self.images = [torch.rand([batch, 3, resolution, resolution], generator=gen) * 2 - 1 for _ in range(count)]
        self.labels = torch.zeros([batch], dtype=torch.int64)
        self.index = 0

    def next(self):
        self.index = (self.index + 1) % len(self.images)
        return self.images[self.index], self.labels

    def __iter__(self): # the peer's loaders: `for step, (input, target) in enumerate(queue)` and next(iter(queue))
        while True:
            yield self.next()

#----------------------------------------------------------------------------

def build_ours(root, channels, batch, resolution):
    sys.path.insert(0, root)
    import tempfile
    import search
    from bench.common import cli_options, make_zip
    from nas.search import config
    import dnnlib
    tmp = tempfile.mkdtemp()
    data = make_zip(os.path.join(tmp, 'data.zip'), resolution, count=8)
    args = [f'--outdir={tmp}', f'--data={data}', '--device=cpu', f'--g-channels={channels}',
            f'--d-channels={channels}', f'--batch={batch}', '--T=1', '--S=1', '--R=1', '--n-critic=1']
    c, _desc = config.setup_search_config(cli_options(search.main, args))
    common = dict(c_dim=0, img_resolution=resolution, img_channels=3)
    G = dnnlib.util.construct_class_by_name(**c.G_kwargs, **common).train()
    D = dnnlib.util.construct_class_by_name(**c.D_kwargs, **common).train()
    algorithm = dnnlib.util.construct_class_by_name(G=G, D=D, device=torch.device('cpu'), **c.algorithm_kwargs)
    train, val = _Batches(batch, resolution, 4, seed=1), _Batches(batch, resolution, 4, seed=2)
    data = types.SimpleNamespace(train=lambda: (train.next()[0], torch.zeros([batch, 0])),
                                 val=lambda: (val.next()[0], torch.zeros([batch, 0])))
    iteration = [0]
    def step():
        algorithm.step(iteration[0], data)
        iteration[0] += 1
    return step

#----------------------------------------------------------------------------

def _point_cuda_at_cpu():
    """The peer's CUDA calls, on the CPU: FloatTensor constructors and .cuda() of tensors and modules."""
    torch.cuda.FloatTensor = torch.FloatTensor
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self

def _stub_metric_imports():
    """Modules the peer imports for IS/FID and image files only (TensorFlow, imageio, torchvision)."""
    stubs = {'utils.fid_score': ['calculate_fid_given_paths', 'create_inception_graph', 'check_or_download_inception'],
             'utils.inception_score': ['get_inception_score', '_init_inception'],
             'imageio': ['imsave', 'imread'], 'torchvision': [], 'torchvision.utils': ['make_grid']}
    for name, attrs in stubs.items():
        if name.split('.')[0] != 'utils':
            try:
                __import__(name)
                continue
            except ImportError:
                pass
        module = types.ModuleType(name)
        for attr in attrs:
            setattr(module, attr, None)
        sys.modules[name] = module

def build_peer(root, channels, batch, resolution):
    sys.path.insert(0, root)
    if not torch.cuda.is_available():
        _point_cuda_at_cpu()
    _stub_metric_imports()
    import cfg_search
    import functions
    import models.model_search_gan as model_search_gan
    from architect import Architect_gen
    # The README's search command at this width and batch, one step of each part.
    sys.argv = ['search.py', '--gen', 'Network_gen_Auto', '--dis', 'Discriminator', '--gf_dim', str(channels),
                '--df_dim', str(channels), '--fix_alphas_epochs', '-1', '--only_update_w_g', '--gen_normal_opr',
                'PRIMITIVES_NORMAL_GEN_wo_skip_none_sep', '--inner_steps', '-1', '--worst_steps', '-1',
                '--outter_steps', '1', '--n_critic', '1', '-gen_bs', str(batch), '-dis_bs', str(batch),
                '--img_size', str(resolution)]
    args = cfg_search.parse_args()
    log = logging.getLogger('peer')
    log.setLevel(logging.WARNING) # its per-step alpha dumps are formatted but not written
    gen = model_search_gan.Network_gen_Auto(args)
    dis = model_search_gan.Discriminator(args)
    gen_optimizer = torch.optim.Adam([p for p in gen.parameters() if p.requires_grad], args.g_lr, (args.beta1, args.beta2))
    dis_optimizer = torch.optim.Adam([p for p in dis.parameters() if p.requires_grad], args.d_lr, (args.beta1, args.beta2))
    gen_avg_param = functions.copy_params(gen)
    architect = Architect_gen(gen, dis, args, 'duality_gap_with_mm', log)
    gen.set_gumbel(args.use_gumbel)
    dis.set_gumbel(args.use_gumbel)
    gen.cur_stage = dis.cur_stage = 2
    writer = types.SimpleNamespace(add_scalar=lambda *args, **kwargs: None)
    writer_dict = dict(writer=writer, inner_steps=0, val_steps=0, valid_global_steps=0)
    train, val = _Batches(batch, resolution, 4, seed=1), _Batches(batch, resolution, 4, seed=2)
    epoch = [0]
    def step():
        with open(os.devnull, 'w') as devnull: # its debug prints of every loss
            stdout, sys.stdout = sys.stdout, devnull
            try:
                functions.train_gan_parameter(args, train, gen, dis, gen_optimizer, dis_optimizer, gen_avg_param, log,
                                              writer_dict)
                functions.train_gan_alpha(args, train, val, gen, dis, architect, gen_optimizer, gen_avg_param,
                                          epoch[0], args.learning_rate, writer_dict, log)
            finally:
                sys.stdout = stdout
        epoch[0] += 1
    return step

#----------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--side', choices=['ours', 'peer'], required=True)
    parser.add_argument('--root', required=True)
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    build = dict(ours=build_ours, peer=build_peer)[args.side]
    step = build(os.path.abspath(args.root), args.channels, args.batch, args.resolution)
    result = time_steps(step, args.iters)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 # KiB on Linux
    print(json.dumps(dict(result, peak_rss_mib=peak_mib)))

#----------------------------------------------------------------------------

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
