"""Facts of the search spaces recorded before the backbone redesign (issue 20): space sizes, genotypes drawn
or derived from fixed seeds, and parameter counts stay what they were."""

import json
import os

import numpy as np
import pytest
import torch

import dnnlib
from nas.genotype import Genotype
from nas.search.random_search import sample_genotype
from nas.space import primitives

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDED = os.path.join(ROOT, 'tests', 'data', 'nas-facts.json')
GENOTYPES = os.path.join(ROOT, 'nas', 'genotypes')
SG2_CHANNELS = dict(channel_base=128, channel_max=16, num_mapping_layers=4)
SG2_SYNTHESIS = dict(channel_base=128, channel_max=16, num_fp16_res=0)

def num_params(module):
    return sum(p.numel() for p in module.parameters())

def genotype_file(name):
    return Genotype.from_json(os.path.join(GENOTYPES, f'{name}.json')).to_dict()

#----------------------------------------------------------------------------
# Space sizes of every backbone and mode.

def space_sizes():
    sizes = {'conventional': primitives.space_size('conventional'),
             'conventional/no_deconv': primitives.space_size('conventional', up_ops='no_deconv'),
             'conventional/learnable_interp': primitives.space_size('conventional', up_ops='learnable_interp'),
             'autogan': primitives.space_size('autogan')}
    for mode in primitives.MODES['stylegan2']:
        for res in (16, 32, 128, 256, 1024):
            sizes[f'stylegan2/{mode}/{res}'] = primitives.space_size('stylegan2', mode, res)
        sizes[f'stylegan2/{mode}/32/L4'] = primitives.space_size('stylegan2', mode, 32, num_mapping_layers=4)
    return sizes

#----------------------------------------------------------------------------
# Genotypes sampled by random search from seeds 0 and 1, and derived by each supernet from its seeded init.

def sampled_genotypes():
    found = dict()
    for space in ('conventional', 'autogan', 'stylegan2'):
        for mode in primitives.MODES[space]:
            for seed in (0, 1):
                channels = SG2_CHANNELS if space == 'stylegan2' else None
                g = sample_genotype(space, np.random.default_rng(seed), resolution=32, mode=mode, channels=channels)
                found[f'{space}/{mode}/{seed}'] = g.to_dict()
    return found

def supernets():
    """(name, class_name, kwargs) of a tiny supernet of every space and mode."""
    nets = [('conventional', 'nas.space.supernet_conventional.SupernetGenerator', dict(g_channels=8, z_dim=16)),
            ('autogan', 'nas.space.autogan_space.SharedGenerator', dict(g_channels=8, z_dim=16))]
    for mode in primitives.MODES['stylegan2']:
        nets.append((f'stylegan2/{mode}', 'nas.space.supernet_stylegan2.SupernetGenerator', dict(z_dim=16, w_dim=16,
            img_resolution=16, mode=mode, mapping_kwargs=dict(num_layers=4), synthesis_kwargs=SG2_SYNTHESIS)))
    return nets

def derived_genotypes():
    found = dict()
    for name, class_name, kwargs in supernets():
        if name == 'autogan':
            continue # AutoGAN derives from its controller's samples, recorded in sampled_genotypes()
        torch.manual_seed(0)
        S = dnnlib.util.construct_class_by_name(class_name=class_name, **kwargs)
        found[name] = S.derive(method='alphagan', seed=0).to_dict()
    return found

#----------------------------------------------------------------------------
# Parameter counts: supernets (weights only), derived generators at paper and tiny widths, discriminators.

def parameter_counts():
    counts = dict()
    for name, class_name, kwargs in supernets():
        S = dnnlib.util.construct_class_by_name(class_name=class_name, **kwargs)
        counts[f'supernet/{name}'] = sum(p.numel() for p in S.weight_parameters())
    G = lambda class_name, **kwargs: num_params(dnnlib.util.construct_class_by_name(class_name=class_name, **kwargs))
    conv = 'nas.backbones.conventional.Generator'
    counts['G/alphagan_s_cifar10'] = G(conv, genotype=genotype_file('alphagan_s_cifar10'))
    counts['G/alphagan_l_cifar10'] = G(conv, genotype=genotype_file('alphagan_l_cifar10'))
    counts['G/alphagan_l_stl10'] = G(conv, genotype=genotype_file('alphagan_l_cifar10'), img_resolution=48)
    counts['G/sngan_baseline'] = G('nas.space.autogan_space.Generator', genotype=genotype_file('sngan_baseline'))
    counts['G/autogan_cifar10'] = G('nas.space.autogan_space.Generator', genotype=genotype_file('autogan_cifar10'))
    sg2 = 'nas.backbones.stylegan2.Generator'
    counts['G/stylegan2_default/16'] = G(sg2, z_dim=16, w_dim=16, img_resolution=16, img_channels=3,
        genotype=genotype_file('stylegan2_default'), synthesis_kwargs=SG2_SYNTHESIS)
    for mode in primitives.MODES['stylegan2']:
        g = sample_genotype('stylegan2', np.random.default_rng(0), resolution=16, mode=mode, channels=SG2_CHANNELS)
        counts[f'G/stylegan2/{mode}/16'] = G(sg2, z_dim=16, w_dim=16, img_resolution=16, img_channels=3,
            genotype=g.to_dict(), mapping_kwargs=dict(num_layers=4), synthesis_kwargs=SG2_SYNTHESIS)
    counts['D/conventional'] = G('training.networks_conventional.Discriminator')
    counts['D/stylegan2/32'] = G('training.networks_stylegan2.Discriminator', c_dim=0, img_resolution=32,
        img_channels=3, channel_base=128, channel_max=16)
    return counts

#----------------------------------------------------------------------------

def facts():
    return dict(space_size=space_sizes(), sampled=sampled_genotypes(), derived=derived_genotypes(),
        params=parameter_counts())

@pytest.fixture(scope='module')
def recorded():
    with open(RECORDED, encoding='utf-8') as f:
        return json.load(f)

@pytest.mark.parametrize('kind', ['space_size', 'sampled', 'derived', 'params'])
def test_facts_equal_the_recorded_ones(recorded, kind):
    now = json.loads(json.dumps(dict(space_size=space_sizes, sampled=sampled_genotypes, derived=derived_genotypes,
        params=parameter_counts)[kind]()))
    assert sorted(now) == sorted(recorded[kind])
    for key in now:
        assert now[key] == recorded[kind][key], key

#----------------------------------------------------------------------------
