"""StyleGAN2 config-f generator and discriminator (Karras et al., CVPR 2020), with a mapping network that
exposes every layer's output for alphaGAN's dynamic W (Tian et al., TPAMI 2022) and synthesis layers whose ops
a search space may choose (nas/backbones/stylegan2.py builds those from genotypes)."""

import numpy as np
import torch

from dnnlib.util import get_obj_by_name
from torch_utils import misc
from torch_utils import persistence
from torch_utils.ops import upfirdn2d
from training.layers import Conv2dLayer
from training.layers import FullyConnectedLayer
from training.layers import SynthesisLayer
from training.layers import ToRGBLayer
from training.layers import normalize_2nd_moment

#----------------------------------------------------------------------------
# Blocks marked use_fp16 compute in FP16 on CUDA only: on CPU, half convolutions are about 50x slower
# (G forward+backward at 32x32, 128 channels, batch 16: 116 s vs 2.4 s in float, torch 2.13).

def _fp16_active(use_fp16, force_fp32, device):
    return use_fp16 and not force_fp32 and device.type == 'cuda'

# The memory format of a block's activations: the device's (misc.activation_memory_format), so on CPU every block runs
# channels-last, FP32 included (G's only when its modulated convs are not fused, as in training), and a G+D step at
# 32x32, 128 channels, batch 16 takes 0.91x the CPU time of NCHW (docs/benchmarks.md); on CUDA only the FP16 blocks
# built with fp16_channels_last run channels-last.

def _memory_format(channels_last, fp16, device, fused_modconv=False):
    if channels_last and fp16:
        return torch.channels_last
    if fused_modconv: # the fused modconv folds the batch into channels, a copy either way
        return torch.contiguous_format
    return misc.activation_memory_format(device)

#----------------------------------------------------------------------------
# Mapping network z (+ c) -> w: num_layers equalised-lr FC layers. Tracks a running average of
# every layer's output (buffer w_avg_all [num_layers, w_dim]) so truncation works on any W_i.
# w_idx gives each ws slot its own W_i (alphaGAN's derived dynamic W); by default every slot reads W_n.

@persistence.persistent_class
class MappingNetwork(torch.nn.Module):
    def __init__(self,
        z_dim,                      # Input latent (Z) dimensionality, 0 = no latent.
        c_dim,                      # Conditioning label (C) dimensionality, 0 = no label.
        w_dim,                      # Intermediate latent (W) dimensionality, also the width of every layer.
        num_ws,                     # Number of intermediate latents to output, None = do not broadcast.
        num_layers      = 8,        # Number of mapping layers.
        embed_features  = None,     # Label embedding dimensionality, None = same as w_dim.
        activation      = 'lrelu',  # Activation function: 'relu', 'lrelu', etc.
        lr_multiplier   = 0.01,     # Learning rate multiplier for the mapping layers.
        w_avg_beta      = 0.995,    # Decay for tracking the moving average of W during training, None = do not track.
        w_idx           = None,     # Mapping layer (0-based) read by each of the num_ws slots, None = the last.
    ):
        super().__init__()
        assert z_dim > 0 or c_dim > 0
        if w_idx is not None:
            w_idx = [int(i) for i in w_idx]
            assert num_ws is not None and len(w_idx) == num_ws, 'w_idx needs one mapping layer per ws slot'
            assert all(0 <= i < num_layers for i in w_idx), 'w_idx out of range'
        self.w_idx = w_idx
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        features = [z_dim + embed_features] + [w_dim] * num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                lr_multiplier=lr_multiplier)
            setattr(self, f'fc{idx}', layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer('w_avg_all', torch.zeros([num_layers, w_dim]))

    @property
    def w_avg(self):
        """Running average of the last layer's output (StyleGAN's w_avg): a view of w_avg_all[-1]."""
        return self.w_avg_all[-1]

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, return_all_layers=False):
        """Returns ws [N, num_ws, w_dim], or [N, num_layers, num_ws, w_dim] (W_1..W_n) with return_all_layers.
        Without num_ws the num_ws axis is absent."""
        # Embed, normalize, and concatenate inputs.
        x = None
        if self.z_dim > 0:
            misc.assert_shape(z, [None, self.z_dim])
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            misc.assert_shape(c, [None, self.c_dim])
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y

        # Run every layer and keep its output.
        outputs = []
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
            outputs.append(x)
        x = torch.stack(outputs, dim=1) # [N, num_layers, w_dim]

        # Update moving averages.
        if update_emas and self.w_avg_beta is not None:
            self.w_avg_all.copy_(x.detach().mean(dim=0).lerp(self.w_avg_all, self.w_avg_beta))

        # Select, broadcast and truncate.
        per_slot = (self.w_idx is not None and not return_all_layers)
        if per_slot:
            x = x[:, self.w_idx] # [N, num_ws, w_dim]: slot j reads layer w_idx[j]
        else:
            if not return_all_layers:
                x = x[:, -1]
            if self.num_ws is not None:
                x = x.unsqueeze(-2).repeat_interleave(self.num_ws, dim=-2)
        if truncation_psi != 1:
            assert self.num_ws is not None and self.w_avg_beta is not None
            if per_slot:
                avg = self.w_avg_all[self.w_idx] # [num_ws, w_dim]
            else:
                avg = (self.w_avg_all if return_all_layers else self.w_avg).unsqueeze(-2) # [(num_layers,) 1, w_dim]
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            head = avg[..., :cutoff, :].lerp(x[..., :cutoff, :], truncation_psi)
            x = torch.cat([head, x[..., cutoff:, :]], dim=-2)
        return x

    def extra_repr(self):
        return f'z_dim={self.z_dim:d}, c_dim={self.c_dim:d}, w_dim={self.w_dim:d}, num_ws={self.num_ws}'

#----------------------------------------------------------------------------
# A synthesis conv layer from its op. Without an op builder the ops are StyleGAN2's own layers: 'deconv' (transposed
# conv x2 + FIR filter) and 'conv_3x3'. A search space passes the dotted name of its builder, which may also turn
# a tuple of op names into a mixed op; such a layer takes its op weights first at forward.

_STYLEGAN2_UP = {'deconv': 2, 'conv_3x3': 1}

def _build_op(op, op_builder, in_channels, out_channels, **kwargs):
    if op_builder is not None:
        return get_obj_by_name(op_builder)(op, in_channels, out_channels, **kwargs)
    if op not in _STYLEGAN2_UP:
        raise ValueError(f'op {op!r}: StyleGAN2\'s own layers are {" and ".join(_STYLEGAN2_UP)}; '
            f'other ops need an op_builder')
    return SynthesisLayer(in_channels, out_channels, kernel_size=3, up=_STYLEGAN2_UP[op], **kwargs)

def _run_op(layer, x, w, weights, **kwargs):
    if weights is None:
        return layer(x, w, **kwargs)
    return layer(x, weights, w, **kwargs)

#----------------------------------------------------------------------------
# Synthesis block of the generator (StyleGAN2 Fig. 7): [const 4x4 |] conv0 (up x2), conv1, then toRGB, in one of
# StyleGAN2's three architectures: 'skip' (Fig. 7b, config-f) has a toRGB in every block whose image is added to the
# upsampled image of the block below; 'orig' (Fig. 7a) and 'resnet' (Fig. 7c) have a toRGB in the last block only,
# and 'resnet' adds a 1x1 up-sampled skip of the block's input to conv1's output, both branches scaled by sqrt(0.5).
# Its ws are [conv0, conv1, torgb] (the 4x4 block: [conv1, torgb]; no torgb where the block has none). conv0 and
# conv1 are StyleGAN2's own layers, or the ops an op builder makes (alphaGAN Sec. 6.2); a search op builder makes
# mixed ops, mixed by the op_weights given at forward.

ARCHITECTURES = ['orig', 'skip', 'resnet'] # of G and D alike

@persistence.persistent_class
class SynthesisBlock(torch.nn.Module):
    def __init__(self,
        in_channels,                        # Number of input channels, 0 = first block.
        out_channels,                       # Number of output channels.
        w_dim,                              # Intermediate latent (W) dimensionality.
        resolution,                         # Resolution of this block.
        img_channels,                       # Number of output color channels.
        is_last             = True,         # Is this the last block? ('orig' and 'resnet' have a toRGB there only.)
        architecture        = 'skip',       # Architecture: 'orig', 'skip', 'resnet'.
        resample_filter     = [1,3,3,1],    # Low-pass filter to apply when resampling activations.
        conv_clamp          = 256,          # Clamp the output of convolution layers to +-X, None = disable clamping.
        use_fp16            = False,        # Use FP16 for this block? CUDA only: elsewhere it runs in FP32.
        fp16_channels_last  = False,        # Use channels-last memory format with FP16?
        conv0_op            = 'deconv',     # Up-sampling op of conv0: an op name, or what op_builder takes.
        conv1_op            = 'conv_3x3',   # Normal op of conv1: an op name, or what op_builder takes.
        op_builder          = None,         # Dotted name of (op, in, out, **kwargs) -> layer, None = StyleGAN2's.
        **layer_kwargs,                     # Arguments for SynthesisLayer.
    ):
        assert architecture in ARCHITECTURES, f'architecture {architecture!r}: expected one of {ARCHITECTURES}'
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = (use_fp16 and fp16_channels_last)
        self.register_buffer('resample_filter', upfirdn2d.setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0

        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = _build_op(conv0_op, op_builder, in_channels, out_channels, w_dim=w_dim, resolution=resolution,
                resample_filter=resample_filter, conv_clamp=conv_clamp, channels_last=self.channels_last,
                **layer_kwargs)
            self.num_conv += 1
        self.conv1 = _build_op(conv1_op, op_builder, out_channels, out_channels, w_dim=w_dim, resolution=resolution,
            conv_clamp=conv_clamp, channels_last=self.channels_last, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == 'skip':
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp,
                channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == 'resnet':
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                resample_filter=resample_filter, channels_last=self.channels_last)

    def __setstate__(self, state):
        # Pickles from before G had architectures hold 'skip' blocks.
        super().__setstate__(dict(state, architecture=state.get('architecture', 'skip')))

    def forward(self, x, img, ws, op_weights=None, force_fp32=False, fused_modconv=None, **layer_kwargs):
        """op_weights: one weight vector per conv layer (search MixedOps), None = plain ops."""
        misc.assert_shape(ws, [None, self.num_conv + self.num_torgb, self.w_dim])
        w_iter = iter(ws.unbind(dim=1))
        op_iter = iter(op_weights if op_weights is not None else [None] * self.num_conv)
        fp16 = _fp16_active(self.use_fp16, force_fp32, ws.device)
        dtype = torch.float16 if fp16 else torch.float32
        if fused_modconv is None:
            fused_modconv = (not self.training) and (dtype == torch.float32 or int(ws.shape[0]) == 1)
        memory_format = _memory_format(self.channels_last, fp16, ws.device, fused_modconv)

        # Main layers.
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.to(memory_format=memory_format) # only a 4-D tensor has a channels-last layout
            x = _run_op(self.conv1, x, next(w_iter), next(op_iter), fused_modconv=fused_modconv, **layer_kwargs)
        else:
            misc.assert_shape(x, [None, self.in_channels, self.resolution // 2, self.resolution // 2])
            x = x.to(dtype=dtype, memory_format=memory_format)
            skip = self.skip(x, gain=np.sqrt(0.5)) if self.architecture == 'resnet' else None
            x = _run_op(self.conv0, x, next(w_iter), next(op_iter), fused_modconv=fused_modconv, **layer_kwargs)
            if skip is None:
                x = _run_op(self.conv1, x, next(w_iter), next(op_iter), fused_modconv=fused_modconv, **layer_kwargs)
            else:
                x = skip.add_(_run_op(self.conv1, x, next(w_iter), next(op_iter), fused_modconv=fused_modconv,
                    gain=np.sqrt(0.5), **layer_kwargs))

        # Skip connection to the image ('skip' only: elsewhere no image comes from the block below).
        if img is not None:
            misc.assert_shape(img, [None, self.img_channels, self.resolution // 2, self.resolution // 2])
            img = upfirdn2d.upsample2d(img, self.resample_filter)
        if self.num_torgb != 0:
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img.add_(y) if img is not None else y

        assert x.dtype == dtype
        return x, img

    def extra_repr(self):
        return f'resolution={self.resolution:d}, architecture={self.architecture}, use_fp16={self.use_fp16}'

#----------------------------------------------------------------------------
# Synthesis network ws -> image (StyleGAN2 config-f: 'skip' architecture by default).
# w order (num_ws = 2*log2(img_resolution) - 2, e.g. 12/14/18 at 128/256/1024): conv layers are
# numbered bottom-up (b4.conv1, b8.conv0, b8.conv1, b16.conv0, ...) and conv layer j reads ws[:, j];
# every toRGB but the last reads the w of the next block's conv0; the last toRGB reads ws[:, -1] (the same num_ws
# in every architecture).

@persistence.persistent_class
class SynthesisNetwork(torch.nn.Module):
    def __init__(self,
        w_dim,                      # Intermediate latent (W) dimensionality.
        img_resolution,             # Output image resolution, a power of two >= 4.
        img_channels,               # Number of color channels.
        channel_base    = 32768,    # Overall multiplier for the number of channels.
        channel_max     = 512,      # Maximum number of channels in any layer.
        num_fp16_res    = 4,        # Use FP16 for the N highest resolutions.
        layer_ops       = None,     # Op of every conv layer in w order (see SynthesisBlock), None = StyleGAN2's.
        **block_kwargs,             # Arguments for SynthesisBlock.
    ):
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)

        if layer_ops is not None:
            assert len(layer_ops) == 2 * self.img_resolution_log2 - 3, 'layer_ops needs one op per conv layer'
            layer_ops = iter(layer_ops)

        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res // 2] if res > 4 else 0
            out_channels = channels_dict[res]
            use_fp16 = (res >= fp16_resolution)
            ops = dict()
            if layer_ops is not None: # w order: conv0 (up), then conv1 (normal)
                ops = dict(conv0_op=next(layer_ops)) if res > 4 else dict()
                ops['conv1_op'] = next(layer_ops)
            is_last = (res == self.img_resolution)
            block = SynthesisBlock(in_channels, out_channels, w_dim=w_dim, resolution=res,
                img_channels=img_channels, is_last=is_last, use_fp16=use_fp16, **ops, **block_kwargs)
            self.num_ws += block.num_conv
            if is_last: # the last toRGB has a w of its own
                self.num_ws += block.num_torgb
            setattr(self, f'b{res}', block)

    def forward(self, ws, op_weights=None, **block_kwargs):
        """op_weights: one weight vector per conv layer in w order when the layers are search MixedOps."""
        misc.assert_shape(ws, [None, self.num_ws, self.w_dim])
        ws = ws.to(torch.float32)
        w_idx = 0
        x = img = None
        for res in self.block_resolutions:
            block = getattr(self, f'b{res}')
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            block_ops = op_weights[w_idx : w_idx + block.num_conv] if op_weights is not None else None
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, op_weights=block_ops, **block_kwargs)
        return img

    def extra_repr(self):
        return (f'w_dim={self.w_dim:d}, num_ws={self.num_ws:d}, '
            f'img_resolution={self.img_resolution:d}, img_channels={self.img_channels:d}')

#----------------------------------------------------------------------------
# Generator = mapping + synthesis (StyleGAN2 config-f with the defaults below). mapping_kwargs.w_idx gives
# each ws slot its own W_i and synthesis_kwargs.layer_ops every conv layer its op (the genotype of a search space).

@persistence.persistent_class
class Generator(torch.nn.Module):
    def __init__(self,
        z_dim               = 512,  # Input latent (Z) dimensionality.
        c_dim               = 0,    # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim               = 512,  # Intermediate latent (W) dimensionality.
        img_resolution      = 1024, # Output resolution.
        img_channels        = 3,    # Number of output color channels.
        mapping_kwargs      = {},   # Arguments for MappingNetwork.
        synthesis_kwargs    = {},   # Arguments for SynthesisNetwork.
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
            update_emas=update_emas)
        return self.synthesis(ws, **synthesis_kwargs)

#----------------------------------------------------------------------------
# Discriminator block (StyleGAN2 Fig. 7): [fromRGB,] conv0, conv1 (down x2), in one of StyleGAN2's three
# architectures: 'resnet' (Fig. 7c, config-f) adds a 1x1 down-sampled skip, both branches scaled by sqrt(0.5);
# 'skip' (Fig. 7b) has a fromRGB in every block, adding the image down-sampled by the block above; 'orig' (Fig. 7a)
# is the plain chain (StyleGAN2-ADA's CIFAR-10 configuration).

@persistence.persistent_class
class DiscriminatorBlock(torch.nn.Module):
    def __init__(self,
        in_channels,                        # Number of input channels, 0 = first block (takes the image).
        tmp_channels,                       # Number of intermediate channels.
        out_channels,                       # Number of output channels.
        resolution,                         # Resolution of this block.
        img_channels,                       # Number of input color channels.
        first_layer_idx,                    # Index of the first layer, counted from the image.
        architecture        = 'resnet',     # Architecture: 'orig', 'skip', 'resnet'.
        activation          = 'lrelu',      # Activation function: 'relu', 'lrelu', etc.
        resample_filter     = [1,3,3,1],    # Low-pass filter to apply when resampling activations.
        conv_clamp          = None,         # Clamp the output of convolution layers to +-X, None = disable clamping.
        use_fp16            = False,        # Use FP16 for this block? CUDA only: elsewhere it runs in FP32.
        fp16_channels_last  = False,        # Use channels-last memory format with FP16?
        freeze_layers       = 0,            # Freeze the first N layers (transfer learning).
    ):
        assert architecture in ARCHITECTURES, f'architecture {architecture!r}: expected one of {ARCHITECTURES}'
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = (use_fp16 and fp16_channels_last)
        # Only 'skip' resamples the image with it; StyleGAN2-ADA's blocks hold it in every architecture, so elsewhere
        # it stays out of the state dict and is what a StyleGAN2-ADA pickle's copy is checked against.
        self.register_buffer('resample_filter', upfirdn2d.setup_filter(resample_filter),
            persistent=(architecture == 'skip'))

        self.num_layers = 0
        def trainable(): # Count this block's layers; the first freeze_layers of the whole D keep their weights.
            layer_idx = first_layer_idx + self.num_layers
            self.num_layers += 1
            return layer_idx >= freeze_layers
        common = dict(activation=activation, conv_clamp=conv_clamp, channels_last=self.channels_last)

        if in_channels == 0 or architecture == 'skip':
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, resample_filter=resample_filter,
            trainable=trainable(), **common)
        if architecture == 'resnet':
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                resample_filter=resample_filter, trainable=trainable(), channels_last=self.channels_last)

    def __setstate__(self, state):
        # Pickles from before D had architectures hold 'resnet' blocks without their own filter: conv1's is the same.
        if 'architecture' not in state:
            state = dict(state, architecture='resnet', _buffers=dict(state['_buffers'],
                resample_filter=state['_modules']['conv1'].resample_filter.clone()),
                _non_persistent_buffers_set=state['_non_persistent_buffers_set'] | {'resample_filter'})
        super().__setstate__(state)

    def forward(self, x, img, force_fp32=False):
        """x: features of the block above (None for the first block), img: the image at this resolution (None
        where no fromRGB reads it). Returns (x, img) for the block below."""
        device = img.device if x is None else x.device
        fp16 = _fp16_active(self.use_fp16, force_fp32, device)
        dtype = torch.float16 if fp16 else torch.float32
        memory_format = _memory_format(self.channels_last, fp16, device)
        if x is not None:
            misc.assert_shape(x, [None, self.in_channels, self.resolution, self.resolution])
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == 'skip':
            misc.assert_shape(img, [None, self.img_channels, self.resolution, self.resolution])
            img = img.to(dtype=dtype, memory_format=memory_format) # down-sampled in the block's dtype, as in StyleGAN2-ADA
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = upfirdn2d.downsample2d(img, self.resample_filter) if self.architecture == 'skip' else None
        if self.architecture == 'resnet':
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        assert x.dtype == dtype
        return x, img

#----------------------------------------------------------------------------
# Minibatch standard deviation (Karras et al., ICLR 2018, Sec. 3; StyleGAN2: group 4, 1 feature).
# Sample i belongs to group i % (N / G); N must be divisible by the group size.

@persistence.persistent_class
class MinibatchStdLayer(torch.nn.Module):
    def __init__(self,
        group_size,                 # Samples per group, None = the whole minibatch.
        num_channels    = 1,        # Number of features to append.
    ):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size is not None else N
        F = self.num_channels
        c = C // F
        y = x.reshape(G, -1, F, c, H, W)        # [GnFcHW] Split the minibatch into n groups of size G.
        y = y - y.mean(dim=0)                   # [GnFcHW] Subtract the group mean.
        y = y.square().mean(dim=0)              # [nFcHW]  Variance over the group.
        y = (y + 1e-8).sqrt()                   # [nFcHW]  Standard deviation.
        y = y.mean(dim=[2, 3, 4])               # [nF]     Average over channels and pixels.
        y = y.reshape(-1, F, 1, 1)              # [nF11]
        y = y.repeat(G, 1, H, W)                # [NFHW]   Replicate over the group and pixels.
        return torch.cat([x, y], dim=1)

    def extra_repr(self):
        return f'group_size={self.group_size}, num_channels={self.num_channels:d}'

#----------------------------------------------------------------------------
# Discriminator epilogue at 4x4: [fromRGB of the 4x4 image ('skip'),] minibatch-stddev, conv, FC, output; with
# cmap_dim > 0 the output is projected on the label embedding (Miyato & Koyama, ICLR 2018).

@persistence.persistent_class
class DiscriminatorEpilogue(torch.nn.Module):
    def __init__(self,
        in_channels,                    # Number of input channels.
        cmap_dim,                       # Dimensionality of the mapped conditioning label, 0 = no label.
        resolution,                     # Resolution of this block.
        img_channels        = 3,        # Number of input color channels ('skip' only).
        architecture        = 'resnet', # Architecture: 'orig', 'skip', 'resnet'.
        mbstd_group_size    = 4,        # Samples per minibatch-stddev group, None = the whole minibatch.
        mbstd_num_channels  = 1,        # Number of features for the minibatch standard deviation layer, 0 = disable.
        activation          = 'lrelu',  # Activation function: 'relu', 'lrelu', etc.
        conv_clamp          = None,     # Clamp the output of convolution layers to +-X, None = disable clamping.
    ):
        assert architecture in ARCHITECTURES, f'architecture {architecture!r}: expected one of {ARCHITECTURES}'
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == 'skip':
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
            conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * (resolution ** 2), in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def __setstate__(self, state):
        # Pickles from before D had architectures hold 'resnet' epilogues, which read no image.
        if 'architecture' not in state:
            state = dict(state, architecture='resnet', img_channels=None)
        super().__setstate__(state)

    def forward(self, x, img, cmap):
        misc.assert_shape(x, [None, self.in_channels, self.resolution, self.resolution])
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == 'skip':
            misc.assert_shape(img, [None, self.img_channels, self.resolution, self.resolution])
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            misc.assert_shape(cmap, [None, self.cmap_dim])
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        misc.assert_shape(x, [None, 1])
        return x

#----------------------------------------------------------------------------
# Discriminator (StyleGAN2; config-f is 'resnet'): blocks from img_resolution down to 8, then the
# 4x4 epilogue; labels enter through a mapping network of c (projection conditioning).

@persistence.persistent_class
class Discriminator(torch.nn.Module):
    def __init__(self,
        c_dim,                          # Conditioning label (C) dimensionality, 0 = unconditional.
        img_resolution,                 # Input resolution, a power of two >= 8.
        img_channels,                   # Number of input color channels.
        architecture        = 'resnet', # Architecture: 'orig', 'skip', 'resnet'.
        channel_base        = 32768,    # Overall multiplier for the number of channels.
        channel_max         = 512,      # Maximum number of channels in any layer.
        num_fp16_res        = 4,        # Use FP16 for the N highest resolutions.
        conv_clamp          = 256,      # Clamp the output of convolution layers to +-X, None = disable clamping.
        cmap_dim            = None,     # Dimensionality of the mapped conditioning label, None = default.
        block_kwargs        = {},       # Arguments for DiscriminatorBlock.
        mapping_kwargs      = {},       # Arguments for MappingNetwork.
        epilogue_kwargs     = {},       # Arguments for DiscriminatorEpilogue.
    ):
        assert img_resolution >= 8 and img_resolution & (img_resolution - 1) == 0
        super().__init__()
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels_dict[4]
        if c_dim == 0:
            cmap_dim = 0

        common_kwargs = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        cur_layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res] if res < img_resolution else 0
            tmp_channels = channels_dict[res]
            out_channels = channels_dict[res // 2]
            use_fp16 = (res >= fp16_resolution)
            block = DiscriminatorBlock(in_channels, tmp_channels, out_channels, resolution=res,
                first_layer_idx=cur_layer_idx, use_fp16=use_fp16, **block_kwargs, **common_kwargs)
            setattr(self, f'b{res}', block)
            cur_layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(channels_dict[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs,
            **common_kwargs)

    def forward(self, img, c, **block_kwargs):
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f'b{res}')(x, img, **block_kwargs)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)

    def extra_repr(self):
        return f'c_dim={self.c_dim:d}, img_resolution={self.img_resolution:d}, img_channels={self.img_channels:d}'

#----------------------------------------------------------------------------
