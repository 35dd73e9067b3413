"""alphaGAN search supernet of the StyleGAN2 generator (Tian et al. 2022, Sec. 6, Fig. 2): mixed modulated ops and
dynamic W in the micro, micro_dynw, macro and macro_dynw spaces."""

import torch

from nas.genotype import Genotype
from nas.genotype import layers_to_w_idx
from nas.space import mixed
from nas.space import primitives
from torch_utils import misc
from torch_utils import persistence
from training.networks_stylegan2 import MappingNetwork
from training.networks_stylegan2 import SynthesisNetwork

#----------------------------------------------------------------------------
# Supernet generator: StyleGAN2's mapping and synthesis networks with a MixedOp on every conv layer and, in
# the dynw modes, a W selector on every ws slot. Alphas (ops) and betas (W) live in their own containers:
# micro = one shared row per op kind, macro = one row per conv layer of that kind; betas [num_ws, L].

@persistence.persistent_class
class SupernetGenerator(torch.nn.Module):
    gumbel_generator = None                 # Generator of the Gumbel noise, None = the global RNG (mixed.shared_gumbel_noise).
    fixed_weights = None                    # {'normal'/'up'/'w': one-hot rows} set by run_genotype(), None = mix.

    def __init__(self,
        z_dim               = 512,          # Input latent (Z) dimensionality.
        c_dim               = 0,            # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim               = 512,          # Intermediate latent (W) dimensionality.
        img_resolution      = 256,          # Output resolution, a power of two >= 4.
        img_channels        = 3,            # Number of output color channels.
        mode                = 'micro_dynw', # Search space: 'micro', 'micro_dynw', 'macro' or 'macro_dynw'.
        mapping_kwargs      = {},           # Arguments for MappingNetwork (num_layers = the W choices).
        synthesis_kwargs    = {},           # Arguments for SynthesisNetwork (channel_base sets the searched width).
        gumbel              = False,        # Gumbel-softmax op and W weights instead of softmax (supp. Table 1)?
        gumbel_tau          = 1.0,          # Gumbel-softmax temperature.
        gumbel_hard         = True,         # One-hot forward with straight-through gradients?
    ):
        shared_ops, dynamic_w = primitives.mode_flags('stylegan2', mode)
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.mode = mode
        self.dynamic_w = dynamic_w
        self.shared_ops = shared_ops
        self.gumbel = gumbel
        self.gumbel_tau = gumbel_tau
        self.gumbel_hard = gumbel_hard
        self.layers = primitives.stylegan2_layers(img_resolution)   # [(name, kind)] in w order
        self.w_slots = primitives.stylegan2_w_slots(img_resolution)
        self.candidates = {kind: primitives.candidates('stylegan2', kind) for kind in ('normal', 'up')}
        self.channel_base = synthesis_kwargs.get('channel_base', 32768)
        self.channel_max = synthesis_kwargs.get('channel_max', 512)

        layer_ops = [self.candidates[kind] for _name, kind in self.layers]
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            layer_ops=layer_ops, op_builder='nas.space.ops_modulated.build_op', **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)
        self.num_mapping_layers = self.mapping.num_layers
        assert self.num_ws == len(self.w_slots)
        self.w_selector = mixed.WSelector(self.num_mapping_layers, self.num_ws) if self.dynamic_w else None

        self.alphas = torch.nn.ParameterDict() # architecture parameters, apart from the weights
        for kind in ('normal', 'up'):
            rows = 1 if self.shared_ops else self._num_layers(kind)
            self.alphas[kind] = torch.nn.Parameter(1e-3 * torch.randn(rows, len(self.candidates[kind])))
        self.betas = torch.nn.ParameterDict()
        if self.dynamic_w:
            self.betas['w'] = torch.nn.Parameter(1e-3 * torch.randn(self.num_ws, self.num_mapping_layers))

    def _num_layers(self, kind):
        return sum(1 for _name, k in self.layers if k == kind)

    def _rows(self):
        """Alpha row of every conv layer in w order, as (kind, row index)."""
        counters = {'normal': 0, 'up': 0}
        rows = []
        for _name, kind in self.layers:
            rows.append((kind, 0 if self.shared_ops else counters[kind]))
            counters[kind] += 1
        return rows

    # Interface of search algorithms.

    def arch_parameters(self):
        return [*self.alphas.values(), *self.betas.values()]

    def weight_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith(('alphas.', 'betas.'))]

    def space_size(self):
        return primitives.space_size('stylegan2', self.mode, self.img_resolution, self.num_mapping_layers)

    def run_genotype(self, genotype):
        """Run exactly `genotype` (a Genotype of this mode) from now on; None = the relaxed mixture."""
        if genotype is None:
            self.fixed_weights = None
            return
        fixed = {kind: mixed.one_hot_rows([self.candidates[kind].index(op) for op in genotype.ops[kind]],
                                          len(self.candidates[kind]), alpha) for kind, alpha in self.alphas.items()}
        if self.dynamic_w:
            fixed['w'] = mixed.one_hot_rows([i - 1 for i in genotype.w_idx], self.num_mapping_layers, self.betas['w'])
        self.fixed_weights = fixed

    def _relax(self, name, param):
        if self.fixed_weights is not None:
            return self.fixed_weights[name]
        return mixed.edge_weights(param, gumbel=self.gumbel, tau=self.gumbel_tau, hard=self.gumbel_hard,
                                  generator=self.gumbel_generator)

    def op_weights(self):
        """One op weight vector per conv layer in w order for one forward pass (softmax or a Gumbel sample, or the
        one-hot rows of run_genotype())."""
        weights = {kind: self._relax(kind, alpha) for kind, alpha in self.alphas.items()}
        return [weights[kind][row] for kind, row in self._rows()]

    def w_weights(self):
        """W weights [num_ws, L] for one forward pass, None without dynamic W."""
        return self._relax('w', self.betas['w']) if self.dynamic_w else None

    def genotype_probs(self):
        """{edge: {choice: softmax probability}}: 'normal'/'up' (micro) or one per conv layer, e.g. 'b8.conv0'
        (macro); 'w.<layer>' with 'W1'..'WL' per ws slot (dynw)."""
        probs = dict()
        if self.shared_ops:
            for kind, alpha in self.alphas.items():
                probs[kind] = dict(zip(self.candidates[kind], alpha.detach().softmax(dim=-1)[0].cpu().tolist()))
        else:
            for (name, _), (kind, row) in zip(self.layers, self._rows()):
                p = self.alphas[kind].detach().softmax(dim=-1)[row].cpu().tolist()
                probs[name] = dict(zip(self.candidates[kind], p))
        if self.dynamic_w:
            labels = [f'W{i + 1}' for i in range(self.num_mapping_layers)]
            for slot, p in zip(self.w_slots, self.betas['w'].detach().softmax(dim=-1).cpu().tolist()):
                probs[f'w.{slot}'] = dict(zip(labels, p))
        return probs

    def alphas_as_lists(self):
        params = {**self.alphas, **self.betas}
        return {name: p.detach().cpu().tolist() for name, p in params.items()}

    def derive(self, **provenance):
        """The argmax op of every alpha row and W of every ws slot as a Genotype; `provenance` (method, data, seed,
        iteration, extra) is recorded with the current alphas and betas."""
        ops = {kind: [self.candidates[kind][i] for i in alpha.detach().argmax(dim=-1).tolist()]
            for kind, alpha in self.alphas.items()}
        w_idx = layers_to_w_idx(self.betas['w'].detach().argmax(dim=-1).tolist()) if self.dynamic_w else None
        genotype = Genotype(backbone='stylegan2', mode=self.mode, resolution=self.img_resolution,
            channels=dict(channel_base=self.channel_base, channel_max=self.channel_max,
                num_mapping_layers=self.num_mapping_layers),
            ops=ops, w_idx=w_idx, provenance=dict(provenance, alphas=self.alphas_as_lists()))
        return genotype.validate('derived genotype')

    # Generator interface.

    def ws(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        """ws [N, num_ws, w_dim]: W_L broadcast, or with dynamic W every slot's mix of W_1..W_L (truncation
        moves each W_i toward its own average first)."""
        kwargs = dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        if not self.dynamic_w:
            return self.mapping(z, c, **kwargs)
        all_ws = self.mapping(z, c, return_all_layers=True, **kwargs)
        return self.w_selector(all_ws, self.w_weights())

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='random', update_emas=False,
            **synthesis_kwargs):
        """Images in [-1, 1] (roughly) from the mixed supernet. Random per-sample noise by default: the search
        steps see the noise regime the derived generator is re-trained in; 'const' is for fixed preview grids."""
        ws = self.ws(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        img = self.synthesis(ws, op_weights=self.op_weights(), noise_mode=noise_mode, **synthesis_kwargs)
        misc.assert_shape(img, [z.shape[0], self.img_channels, self.img_resolution, self.img_resolution])
        return img

    def extra_repr(self):
        return (f'mode={self.mode}, img_resolution={self.img_resolution}, channel_base={self.channel_base}, '
            f'num_ws={self.num_ws}, gumbel={self.gumbel}')

#----------------------------------------------------------------------------
