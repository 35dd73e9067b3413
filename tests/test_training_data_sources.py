"""training.data_sources: each reader on tiny synthetic files in the real formats, transforms, bad input."""

import gzip
import io
import json
import os
import pathlib
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import PIL.Image
import pytest

from dnnlib.util import UserError
from training import data_sources

#----------------------------------------------------------------------------
# Builders of tiny inputs in each real format (test_cli_dataset_tool.py uses them too).
# Pixel values depend on y, x and c differently, so any transposed or mirrored read shows.

def pattern(n, h, w, c=None, seed=0):
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    base = (y * 13 + x * 5)[np.newaxis] + np.arange(n)[:, np.newaxis, np.newaxis] * 31
    if c is not None:
        base = base[..., np.newaxis] + np.arange(c) * 71
    noise = np.random.RandomState(seed).randint(0, 4, size=base.shape)
    return ((base + noise) % 256).astype(np.uint8)

def write_png(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(img).save(path)

def make_image_folder(root, images, names, labels=None):
    for img, name in zip(images, names):
        write_png(os.path.join(root, *name.split('/')), img)
    if labels is not None:
        with open(os.path.join(root, 'dataset.json'), 'w') as f:
            json.dump({'labels': [[name, label] for name, label in zip(names, labels)]}, f)
    return str(root)

def make_image_zip(path, images, names, labels=None):
    with zipfile.ZipFile(path, 'w') as zf:
        for img, name in zip(images, names):
            buf = io.BytesIO()
            PIL.Image.fromarray(img).save(buf, format='png')
            zf.writestr(name, buf.getvalue())
        if labels is not None:
            zf.writestr('dataset.json', json.dumps({'labels': [[n, l] for n, l in zip(names, labels)]}))
    return str(path)

def make_cifar_tarball(path, per_batch=3):
    """cifar-10-python.tar.gz layout: cifar-10-batches-py/ with pickled dicts of b'data' [N, 3072] (CHW) and b'labels'."""
    images = {}
    labels = {}
    with tarfile.open(path, 'w:gz') as tar:
        for i, name in enumerate([f'data_batch_{k}' for k in range(1, 6)] + ['test_batch']):
            imgs = pattern(per_batch, 32, 32, 3, seed=i)
            labs = [(i + k) % 10 for k in range(per_batch)]
            batch = {b'batch_label': name.encode(), b'labels': labs,
                     b'data': imgs.transpose(0, 3, 1, 2).reshape(per_batch, 3072), b'filenames': [b'x.png'] * per_batch}
            data = pickle.dumps(batch, protocol=2).replace(b'numpy._core.', b'numpy.core.') # as the real files name it
            info = tarfile.TarInfo(f'cifar-10-batches-py/{name}')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            images[name], labels[name] = imgs, labs
    train = [f'data_batch_{k}' for k in range(1, 6)]
    return (np.concatenate([images[n] for n in train]), sum((labels[n] for n in train), []),
            images['test_batch'], labels['test_batch'])

def make_stl_bin(path, n=2, labels=None):
    """STL-10 *_X.bin: per image 3 channels of 96x96 bytes, column-major (x outer, y inner); labels 1..10 in *_y.bin."""
    images = pattern(n, 96, 96, 3)
    out = bytearray()
    for img in images:
        for c in range(3):
            for x in range(96):
                out += bytes(img[:, x, c])
    with open(path, 'wb') as f:
        f.write(out)
    if labels is not None:
        with open(str(path).replace('_X.bin', '_y.bin'), 'wb') as f:
            f.write(bytes(label + 1 for label in labels))
    return images

def idx_bytes(magic, array):
    return struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in array.shape) + array.tobytes()

def make_idx_pair(directory, n=5, gz=True, prefix='train'):
    images = pattern(n, 28, 28)
    labels = np.arange(n, dtype=np.uint8) % 10
    suffix = '.gz' if gz else ''
    wrap = gzip.compress if gz else bytes
    img_path = os.path.join(directory, f'{prefix}-images-idx3-ubyte{suffix}')
    with open(img_path, 'wb') as f:
        f.write(wrap(idx_bytes(2051, images)))
    with open(os.path.join(directory, f'{prefix}-labels-idx1-ubyte{suffix}'), 'wb') as f:
        f.write(wrap(idx_bytes(2049, labels)))
    return img_path, images, labels.tolist()

def read_all(source):
    pairs = list(source)
    assert len(pairs) == len(source)
    return [img for img, _ in pairs], [label for _, label in pairs]

#----------------------------------------------------------------------------
# Readers: exact pixels, orientation and labels.

def test_image_folder_recursive_sorted_with_labels(tmp_path):
    images = pattern(3, 8, 8, 3)
    names = ['b/z.png', 'a.png', 'b/a.png']
    src = data_sources.open_source(make_image_folder(tmp_path / 'imgs', images, names, labels=[7, 8, 9]))
    got, labels = read_all(src)
    order = np.argsort(names) # a.png, b/a.png, b/z.png
    assert src.names == sorted(names)
    assert all(np.array_equal(g, images[i]) for g, i in zip(got, order))
    assert labels == [[7, 8, 9][i] for i in order]

def test_image_zip_grayscale_without_labels(tmp_path):
    images = pattern(2, 8, 8)
    src = data_sources.open_source(make_image_zip(tmp_path / 'x.zip', images, ['0.png', '1.png']))
    got, labels = read_all(src)
    assert got[0].shape == (8, 8) and all(np.array_equal(g, i) for g, i in zip(got, images))
    assert labels == [None, None]

def test_rgba_and_palette_become_rgb(tmp_path):
    rgba = pattern(1, 4, 4, 4)[0]
    write_png(str(tmp_path / 'd' / 'a.png'), rgba)
    PIL.Image.fromarray(rgba[..., :3]).convert('P').save(tmp_path / 'd' / 'b.png')
    files = data_sources.ImageFiles(tmp_path / 'd')
    assert np.array_equal(files.read_image('a.png'), rgba[..., :3])
    assert files.header('a.png') == (4, 4, 3) and files.header('b.png') == (4, 4, 3)
    assert files.read_image('b.png').shape == (4, 4, 3)

def test_header_matches_pil_for_jpeg_and_png(tmp_path):
    PIL.Image.fromarray(pattern(1, 6, 10, 3)[0]).save(tmp_path / 'a.jpg')
    PIL.Image.fromarray(pattern(1, 6, 10)[0]).save(tmp_path / 'b.png')
    files = data_sources.ImageFiles(tmp_path)
    assert files.header('a.jpg') == (10, 6, 3) and files.header('b.png') == (10, 6, 1)
    assert files.read_image('a.jpg').shape == (6, 10, 3)

def test_cifar10_train_and_test_splits(tmp_path):
    train, train_labels, test, test_labels = make_cifar_tarball(tmp_path / 'cifar-10-python.tar.gz')
    got, labels = read_all(data_sources.open_source(str(tmp_path / 'cifar-10-python.tar.gz')))
    assert len(got) == 15 and all(np.array_equal(g, t) for g, t in zip(got, train)) and labels == train_labels
    got, labels = read_all(data_sources.open_source(str(tmp_path / 'cifar-10-python.tar.gz'), split='test'))
    assert np.array_equal(np.stack(got), test) and labels == test_labels

def test_cifar10_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ('true',))
    data = pickle.dumps({b'data': Evil()}, protocol=2)
    with tarfile.open(tmp_path / 'c.tar.gz', 'w:gz') as tar:
        info = tarfile.TarInfo('cifar-10-batches-py/test_batch')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UserError, match='refusing to load'):
        data_sources.open_source(str(tmp_path / 'c.tar.gz'), split='test')

def test_stl10_column_major_orientation_and_labels(tmp_path):
    images = make_stl_bin(tmp_path / 'train_X.bin', n=3, labels=[0, 9, 4])
    got, labels = read_all(data_sources.open_source(str(tmp_path / 'train_X.bin')))
    assert all(np.array_equal(g, i) for g, i in zip(got, images)) and labels == [0, 9, 4]
    assert got[0][0, 1, 0] != got[0][1, 0, 0] # the pattern is not symmetric, so a transposed read would fail above
    make_stl_bin(tmp_path / 'unlabeled_X.bin', n=1)
    assert read_all(data_sources.open_source(str(tmp_path / 'unlabeled_X.bin')))[1] == [None]

@pytest.mark.parametrize('gz', [True, False])
def test_idx_gz_and_raw_with_sibling_labels(tmp_path, gz):
    path, images, labels = make_idx_pair(tmp_path, gz=gz)
    got, got_labels = read_all(data_sources.open_source(path))
    assert np.array_equal(np.stack(got), images) and got_labels == labels

#----------------------------------------------------------------------------
# Transforms against references built by hand.

def test_center_crop_takes_the_central_square():
    img = pattern(1, 4, 6, 3)[0]
    assert np.array_equal(data_sources.transform_image(img, 'center-crop'), img[:, 1:5])
    ref = np.asarray(PIL.Image.fromarray(img[:, 1:5]).resize((8, 8), PIL.Image.LANCZOS))
    assert np.array_equal(data_sources.transform_image(img, 'center-crop', 8, 8), ref)

def test_center_crop_wide_letterboxes_a_2_to_1_crop():
    img = pattern(1, 8, 8, 3)[0]
    out = data_sources.transform_image(img, 'center-crop-wide')
    assert out.shape == (8, 8, 3)
    assert np.array_equal(out[2:6], img[2:6]) and not out[:2].any() and not out[6:].any()

def test_resize_is_pil_lanczos_and_channels():
    img = pattern(1, 28, 28)[0]
    out = data_sources.transform_image(img, None, 32, 32)
    assert np.array_equal(out, np.asarray(PIL.Image.fromarray(img).resize((32, 32), PIL.Image.LANCZOS)))
    rgb = data_sources.convert_channels(out, 3)
    assert rgb.shape == (32, 32, 3) and all(np.array_equal(rgb[..., c], out) for c in range(3))
    gray = data_sources.convert_channels(pattern(1, 4, 4, 3)[0], 1)
    r, g, b = [pattern(1, 4, 4, 3)[0][..., c].astype(np.float64) for c in range(3)]
    assert np.abs(gray - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 1 # ITU-R 601-2 luma, as PIL converts

#----------------------------------------------------------------------------
# Bad input: UserError naming the file and the problem.

def test_missing_path(tmp_path):
    with pytest.raises(UserError, match=f'{tmp_path}/nope: no such file'):
        data_sources.open_source(str(tmp_path / 'nope'))

def test_unreadable_and_empty_zip(tmp_path):
    (tmp_path / 'bad.zip').write_bytes(b'this is not a zip file at all')
    with pytest.raises(UserError, match='bad.zip: not a readable zip file'):
        data_sources.open_source(str(tmp_path / 'bad.zip'))
    with zipfile.ZipFile(tmp_path / 'empty.zip', 'w') as zf:
        zf.writestr('readme.txt', 'no images')
    with pytest.raises(UserError, match='empty.zip: no images found'):
        data_sources.open_source(str(tmp_path / 'empty.zip'))

def test_corrupt_image_in_folder(tmp_path):
    (tmp_path / 'a.png').write_bytes(b'\x89PNG garbage')
    with pytest.raises(UserError, match='a.png: cannot read image'):
        read_all(data_sources.open_source(str(tmp_path)))

def test_idx_wrong_magic_and_truncation(tmp_path):
    path, _images, _labels = make_idx_pair(tmp_path, gz=False)
    data = pathlib.Path(path).read_bytes()
    (tmp_path / 'wrong-idx3-ubyte').write_bytes(struct.pack('>I', 2049) + data[4:])
    with pytest.raises(UserError, match='wrong-idx3-ubyte: wrong magic number 2049'):
        data_sources.open_source(str(tmp_path / 'wrong-idx3-ubyte'))
    (tmp_path / 'short-idx3-ubyte').write_bytes(data[:-10])
    with pytest.raises(UserError, match=r'short-idx3-ubyte: header says 5x28x28 = 3920 bytes, file holds 3910'):
        data_sources.open_source(str(tmp_path / 'short-idx3-ubyte'))
    (tmp_path / 'cut-idx3-ubyte.gz').write_bytes(gzip.compress(data)[:-20])
    with pytest.raises(UserError, match='cut-idx3-ubyte.gz: cannot read it'):
        data_sources.open_source(str(tmp_path / 'cut-idx3-ubyte.gz'))

def test_idx_labels_wrong_magic(tmp_path):
    path, _images, _labels = make_idx_pair(tmp_path, gz=False)
    labels_path = path.replace('images-idx3', 'labels-idx1')
    data = pathlib.Path(labels_path).read_bytes()
    pathlib.Path(labels_path).write_bytes(struct.pack('>I', 2051) + data[4:])
    with pytest.raises(UserError, match='labels-idx1-ubyte: wrong magic number 2051 .* starts with 2049'):
        data_sources.open_source(path)

def test_truncated_tarball(tmp_path):
    make_cifar_tarball(tmp_path / 'c.tar.gz')
    data = (tmp_path / 'c.tar.gz').read_bytes()
    (tmp_path / 'cut.tar.gz').write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match='cut.tar.gz: truncated or corrupt tarball'):
        data_sources.open_source(str(tmp_path / 'cut.tar.gz'))

def test_stl10_truncated_and_bad_labels(tmp_path):
    make_stl_bin(tmp_path / 'train_X.bin', n=2, labels=[0, 1])
    data = (tmp_path / 'train_X.bin').read_bytes()
    (tmp_path / 'cut_X.bin').write_bytes(data[:-1])
    with pytest.raises(UserError, match='cut_X.bin: truncated'):
        data_sources.open_source(str(tmp_path / 'cut_X.bin'))
    (tmp_path / 'train_y.bin').write_bytes(b'\x01')
    with pytest.raises(UserError, match='train_y.bin: holds 1 labels for the 2 images'):
        data_sources.open_source(str(tmp_path / 'train_X.bin'))

def test_split_only_for_cifar(tmp_path):
    path, _images, _labels = make_idx_pair(tmp_path)
    with pytest.raises(UserError, match='--split applies to CIFAR-10 tarballs only'):
        data_sources.open_source(path, split='test')

#----------------------------------------------------------------------------
