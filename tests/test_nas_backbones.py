"""nas/backbones: one Backbone per search space, found through one registry, and no branch on a backbone's name
outside the backbone modules."""

import glob
import os
import re

import numpy as np
import pytest
import torch

import dnnlib
from nas import backbones
from nas.genotype import Genotype
from nas.space import primitives

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Search options as search.py's defaults leave them, at tiny widths.
def tiny_opts(name, mode=None):
    spec = backbones.get(name).search_defaults
    return dnnlib.EasyDict(mode=mode or spec['mode'], g_channels=8, d_channels=8, width_frac=1 / 256,
                           up_ops='default', gumbel=False, gumbel_tau=1.0)

def cases():
    return [(name, mode) for name in primitives.BACKBONES for mode in primitives.MODES[name]]

#----------------------------------------------------------------------------

def test_registry_holds_every_space_once():
    assert backbones.names() == list(primitives.BACKBONES) == ['conventional', 'stylegan2', 'autogan']
    for name in backbones.names():
        backbone = backbones.get(name)
        assert backbone.name == name and backbones.by_search_class(backbone.search_class) is backbone
    assert backbones.by_search_class('training.networks_stylegan2.Generator') is None
    with pytest.raises(ValueError, match="unknown backbone 'nosuch' \\(choose from conventional, stylegan2, autogan\\)"):
        backbones.get('nosuch')

@pytest.mark.parametrize('name,mode', cases())
def test_sampled_genotypes_build_the_generator_class(name, mode):
    backbone = backbones.get(name)
    res = 16 if name == 'stylegan2' else 32
    channels = dict(channel_base=64, channel_max=8, num_mapping_layers=4) if name == 'stylegan2' else None
    g = backbone.sample_genotype(np.random.default_rng(3), resolution=res, channels=channels, mode=mode)
    assert (g.backbone, g.mode, g.resolution) == (name, mode, res)
    assert Genotype.from_dict(g.to_dict()).to_dict() == g.to_dict()
    shared_ops, dynamic_w = backbone.mode_flags(mode)
    assert (g.w_idx is not None) == dynamic_w
    if name == 'stylegan2':
        assert len(g.ops['normal']) == (1 if shared_ops else 3)
        kwargs = dict(z_dim=8, w_dim=8, mapping_kwargs=dict(num_layers=4),
                      synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0))
    else:
        kwargs = dict(z_dim=8, g_channels=8)
    G = dnnlib.util.construct_class_by_name(class_name=backbone.generator_class, genotype=g.to_dict(),
                                            img_resolution=res, img_channels=3, **kwargs).eval()
    assert G(torch.randn([2, 8]), None).shape == (2, 3, res, res)
    graph = backbone.architecture_graph(g)
    assert graph.nodes and all(e.source in graph.nodes and e.target in graph.nodes for e in graph.edges)

@pytest.mark.parametrize('name,mode', cases())
def test_search_networks_build(name, mode):
    backbone = backbones.get(name)
    res = 16 if name == 'stylegan2' else 32
    G_kwargs, D_kwargs = backbone.search_networks(tiny_opts(name, mode), batch_size=2)
    assert G_kwargs.class_name == backbone.search_class
    common = dict(c_dim=0, img_resolution=res, img_channels=3)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common)
    backbone.show_genotype(G, backbone.sample_genotype(np.random.default_rng(0), resolution=res, mode=mode))
    assert D(G(torch.randn([2, G.z_dim]), None), None).shape == (2, 1)
    if name != 'autogan':
        assert G.space_size() == backbone.space_size(mode, res)
    if backbone.width_option == 'width_frac':
        assert (G_kwargs.mode, G_kwargs.synthesis_kwargs.channel_base, D_kwargs.channel_max) == (mode, 128, 2)
    else:
        assert (G_kwargs.g_channels, D_kwargs.d_channels) == (8, 8)

@pytest.mark.parametrize('name', primitives.BACKBONES)
def test_resolution_rules(name):
    backbone = backbones.get(name)
    assert backbone.resolution_error(32) is None
    assert (backbone.resolution_error(48) is None) == (name != 'stylegan2') # 48 = 8 * 6 (STL-10), not 2^k
    assert backbone.resolution_error(36) is not None

#----------------------------------------------------------------------------
# What each backbone knows stays in its module: no comparison of a backbone's or a space's name elsewhere.

NAMES = r"""['"](conventional|stylegan2|autogan)['"]"""
BRANCH = re.compile(rf"""\b(backbone|space)\s*(==|!=|in|not in)\s*[\[(]?{NAMES}|{NAMES}\s*(==|!=|in)\s*[\w.]*(backbone|space)""")
BACKBONE_MODULES = {'nas/backbones/conventional.py', 'nas/backbones/stylegan2.py', 'nas/backbones/autogan.py',
                    'nas/space/autogan_space.py'} # the last: AutoGAN's shared and derived generators

def source_files():
    files = glob.glob(os.path.join(ROOT, '*.py'))
    for pkg in ['dnnlib', 'torch_utils', 'training', 'metrics', 'nas', 'bench']:
        files += glob.glob(os.path.join(ROOT, pkg, '**', '*.py'), recursive=True)
    return sorted(os.path.relpath(f, ROOT).replace(os.sep, '/') for f in files)

def test_no_backbone_branch_outside_the_backbone_modules():
    found = []
    for rel in source_files():
        if rel in BACKBONE_MODULES:
            continue
        with open(os.path.join(ROOT, rel), encoding='utf-8') as f:
            found += [f'{rel}:{i}' for i, line in enumerate(f, 1) if BRANCH.search(line)]
    assert not found, f'branches on a backbone name: {found}'
    assert BRANCH.search("if opts.backbone == 'stylegan2':") and BRANCH.search("if space != 'autogan'")
    assert BRANCH.search("backbone in ('conventional', 'stylegan2')") and BRANCH.search("'stylegan2' in defaults.backbones")
    assert not BRANCH.search("if space == 'w':") and not BRANCH.search("get('stylegan2').modes")
    assert not BRANCH.search("elif opts.method == 'autogan':") # a method, not a backbone

#----------------------------------------------------------------------------
# A pickle written by an older ganas embeds an older nas/backbones/<name>.py; trusted loading executes that source,
# which registers its Backbone and its classes' former names once more.

def test_trusted_load_of_an_older_backbone_source_keeps_the_installed_registry(monkeypatch):
    import pickle
    from nas.backbones import conventional
    from torch_utils import persistence
    g = conventional.BACKBONE.sample_genotype(np.random.default_rng(0), resolution=32, channels=None, mode='cell')
    G = conventional.Generator(genotype=g.to_dict(), z_dim=8, g_channels=8, img_resolution=32, img_channels=3).eval()
    monkeypatch.setattr(conventional.Generator, '_persistent_src',
                        conventional.Generator._persistent_src + '\n# an older revision\n')
    data = pickle.dumps(G)
    monkeypatch.undo()
    loaded = pickle.loads(data)
    assert type(loaded).__module__.startswith('_ganas_embedded_') # the older source ran
    z = torch.randn([2, 8])
    assert torch.equal(loaded(z, None), G(z, None))
    assert backbones.get('conventional') is conventional.BACKBONE
    assert persistence.former_name_class('training.networks_conventional.Generator', {}) is conventional.Generator
    # The installed source embedded as it is rebuilds the installed class, executing nothing.
    assert type(pickle.loads(pickle.dumps(G))) is conventional.Generator
