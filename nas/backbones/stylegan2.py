"""The StyleGAN2 backbone of alphaGAN (Tian et al. 2022, Sec. 6): the generator built from a genotype."""

from dnnlib.util import UserError
from nas.genotype import Genotype
from nas.genotype import stylegan2_layer_ops
from torch_utils import persistence
from training import networks_stylegan2

#----------------------------------------------------------------------------
# StyleGAN2's generator (training/networks_stylegan2.py) whose conv layers take the genotype's modulated ops and,
# in the dynw modes, whose ws slots read the genotype's W_i; genotype None = StyleGAN2 itself.

@persistence.persistent_class
class Generator(networks_stylegan2.Generator):
    def __init__(self,
        z_dim               = 512,  # Input latent (Z) dimensionality.
        c_dim               = 0,    # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim               = 512,  # Intermediate latent (W) dimensionality.
        img_resolution      = 1024, # Output resolution.
        img_channels        = 3,    # Number of output color channels.
        mapping_kwargs      = {},   # Arguments for MappingNetwork.
        synthesis_kwargs    = {},   # Arguments for SynthesisNetwork.
        genotype            = None, # StyleGAN2 genotype dict (Genotype.to_dict()), None = StyleGAN2 itself.
    ):
        layer_ops, w_idx = genotype_choices(genotype, img_resolution, mapping_kwargs.get('num_layers', 8))
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
            img_channels=img_channels, mapping_kwargs=dict(mapping_kwargs, w_idx=w_idx),
            synthesis_kwargs=dict(synthesis_kwargs, layer_ops=layer_ops, op_builder='nas.space.ops_modulated.build_op'))
        self.genotype = genotype

#----------------------------------------------------------------------------
# What a StyleGAN2 genotype (nas.genotype, validated here) asks of the generator.

def genotype_choices(genotype, img_resolution, num_mapping_layers):
    """(layer_ops, 0-based w_idx) of a genotype dict; (None, None) = StyleGAN2's own layers and W_n everywhere."""
    if genotype is None:
        return None, None
    g = Genotype.from_dict(genotype, source='genotype')
    if g.backbone != 'stylegan2':
        raise UserError(f"genotype: backbone: expected 'stylegan2', got {g.backbone!r}")
    layer_ops = stylegan2_layer_ops(g, img_resolution)
    if g.w_idx is None:
        return layer_ops, None
    if g.channels['num_mapping_layers'] != num_mapping_layers:
        raise UserError(f'genotype: channels.num_mapping_layers: searched with '
            f'{g.channels["num_mapping_layers"]} mapping layers, the generator has {num_mapping_layers}')
    return layer_ops, [i - 1 for i in g.w_idx]

#----------------------------------------------------------------------------
# Snapshots written before this class moved here (issue 20) name it training.networks_stylegan2.Generator, with
# a genotype among its init kwargs.

persistence.register_former_name('training.networks_stylegan2.Generator', Generator, marker_kwarg='genotype')

#----------------------------------------------------------------------------
