"""StyleGAN2-ADA's own network pickles load as ganas networks with the same outputs, without running the source they
embed (torch_utils/stylegan2_ada_pickle.py). The pickles are written here in StyleGAN2-ADA's layout: every
persistent object as _reconstruct_persistent_obj(meta), meta = type, version 6, module_src, class_name, state (the
object's __dict__), no module name; G's mapping has the buffer w_avg; AugmentPipe keeps its filters as buffers."""

import copy
import pickle

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from cli_helpers import assert_one_line_error, run_inprocess
from torch_utils import checkpoint, persistence
from training import augment, networks_stylegan2

NEVER_RUN = 'raise RuntimeError("the embedded source of a StyleGAN2-ADA pickle must not run")\n'

def legacy_kwargs(obj, kwargs, flat_synthesis=False):
    """Constructor options as StyleGAN2-ADA writes them: no genotype, and its legacy.py's explicit defaults;
    flat_synthesis: as StyleGAN3's copy of the StyleGAN2 Generator takes them, synthesis options at the top."""
    kwargs = copy.deepcopy(dict(kwargs))
    if isinstance(obj, networks_stylegan2.Generator):
        kwargs.pop('genotype', None)
        kwargs['synthesis_kwargs'] = dnnlib.EasyDict(kwargs.get('synthesis_kwargs', {}), architecture='skip',
            resample_filter=[1, 3, 3, 1], use_noise=True, activation='lrelu')
        if flat_synthesis:
            kwargs.update(kwargs.pop('synthesis_kwargs'))
        kwargs['mapping_kwargs'] = dnnlib.EasyDict(kwargs.get('mapping_kwargs', {}), embed_features=None,
            layer_features=None, activation='lrelu', lr_multiplier=0.01, w_avg_beta=0.995)
    if isinstance(obj, networks_stylegan2.Discriminator):
        kwargs['architecture'] = 'resnet'
    return dnnlib.EasyDict(kwargs)

class StyleGAN2ADAPickler(pickle.Pickler):
    flat_synthesis = False

    def reducer_override(self, obj):
        if isinstance(obj, type) or not persistence.is_persistent(obj):
            return NotImplemented
        state = dict(obj.__dict__)
        state['_init_kwargs'] = legacy_kwargs(obj, state['_init_kwargs'], self.flat_synthesis)
        buffers = dict(state['_buffers'])
        if 'w_avg_all' in buffers: # StyleGAN2-ADA's mapping tracks the last layer only
            buffers = {'w_avg': buffers.pop('w_avg_all')[-1].clone(), **buffers}
        if isinstance(obj, augment.AugmentPipe): # its filter banks are persistent buffers there
            buffers = dict(p=buffers['p'], Hz_geom=torch.randn(12), Hz_fbank=torch.randn(4, 12))
            state['_non_persistent_buffers_set'] = set()
        state['_buffers'] = buffers
        meta = dict(type='class', version=6, module_src=NEVER_RUN, class_name=type(obj).__name__, state=state)
        return persistence._reconstruct_persistent_obj, (meta,)

def tiny_snapshot(c_dim=0):
    torch.manual_seed(3)
    G = networks_stylegan2.Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dnnlib.EasyDict(num_layers=2),
        synthesis_kwargs=dnnlib.EasyDict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=256))
    D = networks_stylegan2.Discriminator(c_dim=c_dim, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
        num_fp16_res=0, conv_clamp=256, epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=2))
    with torch.no_grad():
        for name, tensor in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith('noise_strength') or 'w_avg' in name:
                tensor.copy_(torch.randn_like(tensor) * 0.3)
    pipe = augment.AugmentPipe(xflip=1, rotate90=1, xint=1, brightness=1)
    pipe.p.fill_(0.3)
    return dict(G=G, D=D, G_ema=copy.deepcopy(G).eval(), augment_pipe=pipe,
                training_set_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path='ffhq.zip'))

def write_stylegan2_ada_pickle(path, snapshot, flat_synthesis=False):
    with open(path, 'wb') as f:
        pickler = StyleGAN2ADAPickler(f)
        pickler.flat_synthesis = flat_synthesis
        pickler.dump(snapshot)
    return str(path)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('c_dim,flat_synthesis', [(0, False), (3, False), (0, True)])
def test_stylegan2_ada_pickle_loads_with_the_same_outputs(tmp_path, c_dim, flat_synthesis):
    snapshot = tiny_snapshot(c_dim)
    path = write_stylegan2_ada_pickle(tmp_path / 'network-snapshot-000100.pkl', snapshot, flat_synthesis)
    with pytest.raises(persistence.PickleRefused, match='embedded source of class'):
        persistence.load_pickle(path) # as data only when asked for
    data = checkpoint.load_network(path)
    assert sorted(data) == ['D', 'G', 'G_ema', 'augment_pipe', 'training_set_kwargs']
    assert data['training_set_kwargs'].path == 'ffhq.zip'
    G, D = data['G_ema'], data['D']
    assert isinstance(G, networks_stylegan2.Generator) and isinstance(D, networks_stylegan2.Discriminator)
    assert 'architecture' not in G.init_kwargs.synthesis_kwargs and 'layer_features' not in G.init_kwargs.mapping_kwargs
    assert 'architecture' not in D.init_kwargs
    z = torch.randn(4, 8)
    c = torch.eye(3)[[0, 1, 2, 0]] if c_dim else torch.zeros([4, 0])
    with torch.no_grad():
        for psi in [1, 0.7]: # truncation reads w_avg, the last row of w_avg_all
            assert torch.equal(G(z, c, truncation_psi=psi, noise_mode='const'),
                               snapshot['G_ema'](z, c, truncation_psi=psi, noise_mode='const'))
        img = snapshot['G'](z, c, noise_mode='const')
        assert torch.equal(D(img, c), snapshot['D'](img, c))
    assert torch.equal(G.mapping.w_avg_all[0], torch.zeros(8)) # tracked by StyleGAN2-ADA for the last layer only
    assert isinstance(data['augment_pipe'], augment.AugmentPipe) and float(data['augment_pipe'].p) == pytest.approx(0.3)
    assert data['augment_pipe'].init_kwargs == snapshot['augment_pipe'].init_kwargs

def test_options_ganas_cannot_build_are_one_line(tmp_path):
    snapshot = tiny_snapshot()
    path = write_stylegan2_ada_pickle(tmp_path / 'orig.pkl', snapshot)
    with open(path, 'rb') as f: # the same file with StyleGAN2's 'orig' architecture
        raw = f.read().replace(b'skip', b'orig')
    (tmp_path / 'orig.pkl').write_bytes(raw)
    with pytest.raises(dnnlib.util.UserError, match=r"orig.pkl: G: synthesis_kwargs.architecture='orig' is not "
                                                    r"supported \(ganas builds StyleGAN2's 'skip' Generator\)"):
        checkpoint.load_network(path)

def test_generate_and_projector_take_a_stylegan2_ada_pickle(tmp_path, capsys):
    snapshot = tiny_snapshot()
    path = write_stylegan2_ada_pickle(tmp_path / 'ffhq.pkl', snapshot)
    checkpoint.save_safe(str(tmp_path / 'ours.safetensors'), dict(G_ema=snapshot['G_ema']))
    for network, out in [(path, 'theirs'), (str(tmp_path / 'ours.safetensors'), 'ours')]:
        res = run_inprocess(capsys, 'generate.py', f'--network={network}', '--seeds=0-3', '--trunc=0.7',
                            f'--outdir={tmp_path / out}', '--device=cpu')
        assert res.returncode == 0, res.stderr
    for seed in range(4):
        assert np.array_equal(np.asarray(PIL.Image.open(tmp_path / 'theirs' / f'seed{seed:04d}.png')),
                              np.asarray(PIL.Image.open(tmp_path / 'ours' / f'seed{seed:04d}.png')))
    res = run_inprocess(capsys, 'projector.py', f'--network={path}', f'--target={tmp_path / "ours" / "seed0000.png"}',
                        '--loss=mse', '--num-steps=3', f'--outdir={tmp_path / "proj"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'proj' / 'projected_w.npz').is_file()

def test_unknown_stylegan2_ada_class_is_refused_in_one_line(tmp_path, capsys):
    class Foreign(torch.nn.Module):
        pass
    snapshot = dict(G_ema=persistence.persistent_class(Foreign)())
    path = write_stylegan2_ada_pickle(tmp_path / 'foreign.pkl', snapshot)
    res = run_inprocess(capsys, 'generate.py', f'--network={path}', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert_one_line_error(res, '--network: ', 'foreign.pkl: G_ema: StyleGAN2-ADA class Foreign has no ganas counterpart')

#----------------------------------------------------------------------------
