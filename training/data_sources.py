"""Readers of image data sets (folder or zip of images, CIFAR-10, STL-10, MNIST idx) and the conversion behind dataset_tool."""

import gzip
import io
import itertools
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib

import numpy as np
import PIL.Image
import tqdm

from dnnlib.util import UserError, chmod_as_created

#----------------------------------------------------------------------------
# Image files and how they become arrays: grayscale stays HW, everything else becomes RGB HWC.

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
_GRAY_MODES = ('1', 'L', 'LA') # decoded to one channel; other modes (RGBA, P, CMYK, ...) to RGB

_PNG_IHDR = b'\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR' # signature, then the IHDR chunk's length and type
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 1, 6: 3} # colour type -> channels after decoding (gray, RGB, palette, gray+alpha, RGBA)

def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)

def channels_of_mode(mode):
    return 1 if mode in _GRAY_MODES else 3

def image_to_array(img):
    """PIL image -> uint8 array, [H, W] for grayscale modes and [H, W, 3] for the rest."""
    return np.asarray(img.convert('L' if channels_of_mode(img.mode) == 1 else 'RGB'))

def one_line(err):
    """An exception's message squeezed onto one line, for 'Error: <file>: <problem>'."""
    return ' '.join(str(err).split()) or err.__class__.__name__

#----------------------------------------------------------------------------
# Image files in a directory tree or a zip, sorted by name, with the labels of an optional dataset.json.
# Pickles without its zip handle and reopens it lazily, so DataLoader workers each get their own; a forked worker
# reopens too, because a handle inherited across fork shares its file offset with the parent.

class ImageFiles:
    def __init__(self, path):
        self.path = os.fspath(path)
        self._zipfile = None
        self._zipfile_pid = None
        if os.path.isdir(self.path):
            self._is_zip = False
            all_names = []
            for root, _dirs, files in os.walk(self.path):
                rel_root = os.path.relpath(root, self.path)
                all_names += [os.path.normpath(os.path.join(rel_root, f)).replace(os.sep, '/') for f in files]
        elif os.path.isfile(self.path):
            self._is_zip = True
            all_names = self._get_zipfile().namelist()
        else:
            raise UserError(f'{self.path}: no such file or directory')
        self._all_names = set(all_names)
        self.names = sorted(name for name in all_names if is_image_name(name))
        if not self.names:
            raise UserError(f'{self.path}: no images found (looked for {", ".join(IMAGE_EXTENSIONS)})')

    def __len__(self):
        return len(self.names)

    def _get_zipfile(self):
        if self._zipfile is None or self._zipfile_pid != os.getpid():
            try:
                self._zipfile = zipfile.ZipFile(self.path)
                self._zipfile_pid = os.getpid()
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise UserError(f'{self.path}: not a readable zip file ({one_line(err)})') from err
        return self._zipfile

    def _open(self, name):
        if self._is_zip:
            return self._get_zipfile().open(name, 'r')
        return open(os.path.join(self.path, name), 'rb')

    def header(self, name):
        """(width, height, channels) from the file's header, without decoding the pixels."""
        try:
            with self._open(name) as f:
                head = f.read(26)
                if head[:16] == _PNG_IHDR and head[24] == 8 and head[25] in _PNG_CHANNELS: # 8-bit PNG: 5x faster than PIL
                    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big'), _PNG_CHANNELS[head[25]]
                f.seek(0)
                with PIL.Image.open(f) as img:
                    return img.width, img.height, channels_of_mode(img.mode)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
            raise UserError(f'{self.path}: {name}: cannot read image ({one_line(err)})') from err

    def read_image(self, name):
        """Decoded image as a uint8 array, [H, W] or [H, W, 3]."""
        try:
            with self._open(name) as f:
                data = f.read()
            with PIL.Image.open(io.BytesIO(data)) as img:
                return image_to_array(img)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
            raise UserError(f'{self.path}: {name}: cannot read image ({one_line(err)})') from err

    def labels(self):
        """Labels from dataset.json in the order of `names`, or None when it is absent or says null."""
        if 'dataset.json' not in self._all_names:
            return None
        try:
            with self._open('dataset.json') as f:
                labels = json.load(f).get('labels')
        except (OSError, ValueError, AttributeError, zipfile.BadZipFile, zlib.error) as err:
            raise UserError(f'{self.path}: dataset.json: cannot parse it ({one_line(err)})') from err
        if labels is None:
            return None
        if not isinstance(labels, list) or not all(isinstance(x, list) and len(x) == 2 for x in labels):
            raise UserError(f'{self.path}: dataset.json: "labels" must be a list of [name, label] pairs or null')
        by_name = {name: label for name, label in labels}
        missing = [name for name in self.names if name not in by_name]
        if missing:
            raise UserError(f'{self.path}: dataset.json: no label for {missing[0]} ({len(missing)} images lack one)')
        return [by_name[name] for name in self.names]

    def close(self):
        if self._zipfile is not None:
            self._zipfile.close()
            self._zipfile = None

    def __getstate__(self):
        return dict(self.__dict__, _zipfile=None)

#----------------------------------------------------------------------------
# What dataset_tool reads: a path, an image count, and an iterator of (image, label).
# Images are uint8 [H, W] (grayscale) or [H, W, 3]; labels are ints, lists of floats or None.

class Source:
    def __init__(self, path, num_images, iterate, names=None):
        self.path = path
        self.num_images = num_images
        self.names = names # file names inside a folder or zip, for messages; None for array formats
        self._iterate = iterate

    def __len__(self):
        return self.num_images

    def __iter__(self):
        return self._iterate()

    def where(self, idx):
        """'<path>: <name>' or '<path>: image <idx>', to start an error message about one image."""
        return f'{self.path}: {self.names[idx]}' if self.names is not None else f'{self.path}: image {idx}'

def open_image_files(path):
    files = ImageFiles(path)
    labels = files.labels() or [None] * len(files)
    def iterate():
        for name, label in zip(files.names, labels):
            yield files.read_image(name), label
        files.close()
    return Source(files.path, len(files), iterate, names=files.names)

def _array_source(path, images, labels):
    def iterate():
        for idx in range(images.shape[0]):
            yield images[idx], (None if labels is None else int(labels[idx]))
    return Source(path, images.shape[0], iterate)

#----------------------------------------------------------------------------
# CIFAR-10 python tarball: cifar-10-batches-py/{data_batch_1..5,test_batch}, each a pickled dict with
# b'data' (N x 3072 uint8, channel-major 3x32x32) and b'labels' (N ints in 0..9).

CIFAR10_SPLITS = {'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch']}

class _ArrayUnpickler(pickle.Unpickler):
    """Loads only dicts, lists, bytes and numpy arrays: a tarball from the internet must not run code."""
    _allowed = {('_codecs', 'encode'), ('numpy', 'ndarray'), ('numpy', 'dtype'),
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct')}

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f'refusing to load {module}.{name}')
        if module == 'numpy.core.multiarray':
            module = 'numpy._core.multiarray' if hasattr(np, '_core') else module # no deprecation warning on numpy 2
        return super().find_class(module, name)

def open_cifar10(path, split='train'):
    batches = {}
    try:
        with tarfile.open(path, 'r:*') as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and name in CIFAR10_SPLITS[split]:
                    batches[name] = _ArrayUnpickler(tar.extractfile(member), encoding='bytes').load()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise UserError(f'{path}: truncated or corrupt tarball ({one_line(err)})') from err
    except (pickle.UnpicklingError, ValueError, KeyError, IndexError, TypeError) as err: # what garbage pickles raise
        raise UserError(f'{path}: a batch is not a readable pickle ({one_line(err)})') from err
    missing = [name for name in CIFAR10_SPLITS[split] if name not in batches]
    if missing:
        raise UserError(f'{path}: not a complete CIFAR-10 python tarball (no cifar-10-batches-py/{missing[0]})')
    images, labels = [], []
    for name in CIFAR10_SPLITS[split]:
        batch = batches[name]
        data = batch.get(b'data') if isinstance(batch, dict) else None
        batch_labels = np.asarray(batch.get(b'labels', []) if isinstance(batch, dict) else [])
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 \
                or batch_labels.shape != data.shape[:1] or np.any((batch_labels < 0) | (batch_labels > 9)):
            raise UserError(f'{path}: {name}: not a CIFAR-10 batch (expected b"data" N x 3072 and N b"labels" in 0..9)')
        images.append(data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return _array_source(path, np.concatenate(images), np.concatenate(labels))

#----------------------------------------------------------------------------
# STL-10 binary: *_X.bin holds 96x96x3 images, each channel stored column-major (x outer, y inner);
# a sibling *_y.bin holds one uint8 label 1..10 per image (none for unlabeled_X.bin).

STL10_IMAGE_BYTES = 3 * 96 * 96

def open_stl10(path):
    size = os.path.getsize(path)
    if size == 0 or size % STL10_IMAGE_BYTES != 0:
        raise UserError(f'{path}: truncated or not an STL-10 image file ({size} bytes is not a multiple of 3*96*96)')
    raw = np.memmap(path, dtype=np.uint8, mode='r', shape=(size // STL10_IMAGE_BYTES, 3, 96, 96)) # [N, C, x, y]
    images = raw.transpose(0, 3, 2, 1) # [N, y, x, C] = HWC
    labels = None
    labels_path = path[:-len('_X.bin')] + '_y.bin' if path.endswith('_X.bin') else None
    if labels_path is not None and os.path.isfile(labels_path):
        labels = np.fromfile(labels_path, dtype=np.uint8).astype(np.int64) - 1
        if labels.shape[0] != images.shape[0]:
            raise UserError(f'{labels_path}: holds {labels.shape[0]} labels for the {images.shape[0]} images of {path}')
        if np.any((labels < 0) | (labels > 9)):
            raise UserError(f'{labels_path}: labels must lie in 1..10')
    return _array_source(path, images, labels)

#----------------------------------------------------------------------------
# MNIST / Fashion-MNIST idx files, gzipped or raw: big-endian magic (2051 for uint8 images [N, H, W],
# 2049 for uint8 labels [N]) and int32 sizes, then the bytes. Labels come from the sibling labels-idx1 file.

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

def read_idx(path, magic):
    """The uint8 array of an idx file (.gz or raw) whose header must start with `magic`."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
        if data[:2] == b'\x1f\x8b':
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f'{path}: cannot read it ({one_line(err)})') from err
    if len(data) < 4 or int.from_bytes(data[:4], 'big') != magic:
        found = int.from_bytes(data[:4], 'big') if len(data) >= 4 else 'none'
        raise UserError(f'{path}: wrong magic number {found} (an idx {"image" if magic == IDX_IMAGES_MAGIC else "label"} '
                        f'file starts with {magic})')
    ndim = magic & 0xff
    if len(data) < 4 + 4 * ndim:
        raise UserError(f'{path}: truncated idx header')
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise UserError(f'{path}: header says {"x".join(map(str, shape))} = {expected} bytes, file holds {len(data) - offset}')
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)

def open_idx(path):
    images = read_idx(path, IDX_IMAGES_MAGIC)
    labels = None
    name = os.path.basename(path)
    if 'images-idx3' in name:
        labels_path = os.path.join(os.path.dirname(path), name.replace('images-idx3', 'labels-idx1'))
        if os.path.isfile(labels_path):
            labels = read_idx(labels_path, IDX_LABELS_MAGIC)
            if labels.shape[0] != images.shape[0]:
                raise UserError(f'{labels_path}: holds {labels.shape[0]} labels for the {images.shape[0]} images of {path}')
    return _array_source(path, images, labels)

#----------------------------------------------------------------------------
# LSUN lmdb directory (<category>_lmdb/ with data.mdb): each value is one encoded image (WebP or JPEG), no labels.
# An image that does not decode is skipped with a warning, as StyleGAN2-ADA's dataset_tool skips it.

def is_lmdb_dir(path):
    return os.path.isdir(path) and (path.rstrip('/').endswith('_lmdb') or os.path.isfile(os.path.join(path, 'data.mdb')))

def open_lmdb(path):
    try:
        import lmdb # optional: only LSUN sources need it
    except ImportError:
        raise UserError(f'{path}: an LSUN lmdb source needs the lmdb package: pip install lmdb') from None
    try:
        with lmdb.open(path, readonly=True, lock=False) as env:
            num_images = env.stat()['entries']
    except lmdb.Error as err:
        raise UserError(f'{path}: not a readable lmdb database ({one_line(err)})') from err
    def iterate():
        with lmdb.open(path, readonly=True, lock=False) as env, env.begin(write=False) as txn:
            for idx, (_key, value) in enumerate(txn.cursor()):
                try:
                    with PIL.Image.open(io.BytesIO(value)) as img:
                        yield image_to_array(img), None
                except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
                    print(f'warning: {path}: image {idx} does not decode ({one_line(err)}); skipped', file=sys.stderr)
    return Source(path, num_images, iterate)

#----------------------------------------------------------------------------
# Source kind from the path: LSUN lmdb directory, directory, .zip, CIFAR-10 tarball, STL-10 .bin, else an idx file (magic checked).

def open_source(path, split=None):
    """Open a dataset source for dataset_tool; `split` ('train' | 'test', default 'train') is for CIFAR-10 only."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f'{path}: no such file or directory')
    is_tarball = os.path.isfile(path) and path.lower().endswith(('.tar.gz', '.tgz', '.tar'))
    if split is not None and not is_tarball:
        raise UserError(f'{path}: --split applies to CIFAR-10 tarballs only')
    if is_lmdb_dir(path):
        return open_lmdb(path)
    if os.path.isdir(path) or path.lower().endswith('.zip'):
        return open_image_files(path)
    if is_tarball:
        return open_cifar10(path, split or 'train')
    if path.lower().endswith('.bin'):
        return open_stl10(path)
    if is_image_name(path):
        raise UserError(f'{path}: a single image is not a dataset; pass the folder that holds the images')
    return open_idx(path)

#----------------------------------------------------------------------------
# Per-image conversion for dataset_tool: crop, resize (LANCZOS or box, as StyleGAN2-ADA's --resize-filter), channels.

TRANSFORMS = ('center-crop', 'center-crop-wide')
RESIZE_FILTERS = {'lanczos': PIL.Image.Resampling.LANCZOS, 'box': PIL.Image.Resampling.BOX}

def resize(img, width, height, resize_filter='lanczos'):
    if img.shape[1] == width and img.shape[0] == height:
        return img
    return np.asarray(PIL.Image.fromarray(img).resize((width, height), RESIZE_FILTERS[resize_filter]))

def transform_image(img, transform=None, width=None, height=None, resize_filter='lanczos'):
    """The image cropped and resized for dataset_tool. transform None: resized to width x height (each None keeps
    the image's); 'center-crop': the central square, resized to width x height (None: its side);
    'center-crop-wide': the central band of aspect width:height (default 2:1), resized to width x height and
    letterboxed with black bars on a width x width square."""
    h, w = img.shape[:2]
    if transform is None:
        return resize(img, width or w, height or h, resize_filter)
    assert transform in TRANSFORMS
    if transform == 'center-crop':
        s = min(w, h)
        img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        return resize(img, width or s, height or s, resize_filter)
    aspect = (width / height) if width and height else 2
    cw = min(w, int(round(h * aspect))) # widest band of that aspect that fits
    ch = int(round(cw / aspect))
    img = img[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
    out_w = width or cw
    out_h = height or int(round(out_w / aspect))
    img = resize(img, out_w, out_h, resize_filter)
    canvas = np.zeros((out_w, out_w) + img.shape[2:], dtype=np.uint8) # black bars above and below
    top = (out_w - out_h) // 2
    canvas[top : top + out_h] = img
    return canvas

def convert_channels(img, channels=None):
    """Grayscale -> RGB by replicating, RGB -> grayscale by PIL's luma; None keeps the image as it is."""
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[:, :, np.newaxis], 3, axis=2)
    if channels == 1 and img.ndim == 3:
        return np.asarray(PIL.Image.fromarray(img).convert('L'))
    return img

def _size(img):
    return img.shape[1], img.shape[0], (img.shape[2] if img.ndim == 3 else 1)

def encode_png(img):
    buf = io.BytesIO()
    PIL.Image.fromarray(img).save(buf, format='png')
    return buf.getvalue()

def describe_size(width, height, channels):
    return f'{width}x{height} with {channels} channel(s)'

#----------------------------------------------------------------------------
# Output of dataset_tool: a zip or a directory written under a temporary name next to the destination and
# renamed over it at the end, so an interrupted or failed run leaves any existing output untouched.

class DatasetWriter:
    def __init__(self, dest, overwrite=False):
        self.dest = os.fspath(dest)
        if os.path.exists(self.dest) and not overwrite and (not os.path.isdir(self.dest) or os.listdir(self.dest)):
            raise UserError(f'{self.dest}: already exists; pass --overwrite to replace it')
        self._is_zip = self.dest.lower().endswith('.zip')
        parent = os.path.dirname(os.path.abspath(self.dest))
        os.makedirs(parent, exist_ok=True)
        prefix = '.' + os.path.basename(self.dest) + '.'
        if self._is_zip:
            fd, self._tmp = tempfile.mkstemp(prefix=prefix, suffix='.tmp', dir=parent)
            self._file = os.fdopen(fd, 'wb')
            self._zip = zipfile.ZipFile(self._file, 'w', compression=zipfile.ZIP_STORED) # PNGs are compressed already
        else:
            self._tmp = tempfile.mkdtemp(prefix=prefix, suffix='.tmp', dir=parent)

    def add(self, name, data):
        if self._is_zip:
            self._zip.writestr(name, data)
            return
        path = os.path.join(self._tmp, *name.split('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)

    def commit(self):
        if self._is_zip:
            self._zip.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        chmod_as_created(self._tmp, directory=not self._is_zip)
        if os.path.exists(self.dest) and (os.path.isdir(self.dest) or not self._is_zip):
            trash = tempfile.mkdtemp(prefix='.' + os.path.basename(self.dest) + '.', suffix='.old', dir=os.path.dirname(self._tmp))
            os.rename(self.dest, os.path.join(trash, 'old'))
            os.replace(self._tmp, self.dest)
            shutil.rmtree(trash)
        else:
            os.replace(self._tmp, self.dest) # atomic over an old zip

    def abort(self):
        if self._is_zip:
            self._zip.close()
            self._file.close()
            os.remove(self._tmp)
        else:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.commit()
        else:
            self.abort()

#----------------------------------------------------------------------------
# dataset_tool's job: source -> <dest>/00000/img00000000.png ... + dataset.json {"labels": [[name, label], ...] | null}.

def convert_dataset(
    source,                 # Source from open_source().
    dest,                   # Output .zip or directory.
    max_images  = None,     # Convert only the first this many images, None = all.
    width       = None,     # Output width (center-crop-wide: of the band), None = keep (transform_image()).
    height      = None,     # Output height (center-crop-wide: of the band), None = keep.
    transform   = None,     # 'center-crop' | 'center-crop-wide', None = resize only (square images, square output).
    resize_filter = 'lanczos', # 'lanczos' | 'box'.
    channels    = None,     # 1 | 3, None = keep the source's.
    overwrite   = False,    # Replace an existing dest.
    progress    = True,     # Show a tqdm progress bar, on stdout so that stderr holds only an error.
):
    assert channels in (None, 1, 3)
    num_images = len(source) if max_images is None else min(max_images, len(source))
    labels = []
    first = None
    with DatasetWriter(dest, overwrite=overwrite) as writer:
        images = itertools.islice(source, num_images)
        for idx, (img, label) in enumerate(tqdm.tqdm(images, total=num_images, unit='img', disable=not progress, file=sys.stdout)):
            if transform is None and img.shape[0] != img.shape[1]: # never stretched silently
                raise UserError(f'{source.where(idx)}: image is {img.shape[1]}x{img.shape[0]}, not square; '
                                f'pass --transform=center-crop or --transform=center-crop-wide')
            out = transform_image(img, transform, width, height, resize_filter)
            if out.shape[0] != out.shape[1]:
                raise UserError(f'{source.where(idx)}: image is {img.shape[1]}x{img.shape[0]}, becomes '
                                f'{out.shape[1]}x{out.shape[0]}, not square; give a square --width and --height')
            img = convert_channels(out, channels)
            if first is None:
                first = img
            elif img.shape != first.shape:
                raise UserError(f'{source.where(idx)}: mixed image sizes: becomes {describe_size(*_size(img))}, the first image '
                                f'{describe_size(*_size(first))}; pass --resolution and --channels to make them agree')
            name = f'{idx // 1000:05d}/img{idx:08d}.png'
            writer.add(name, encode_png(img))
            labels.append([name, label])
        if not labels:
            raise UserError(f'{source.path}: no images to convert')
        has_labels = all(label is not None for _name, label in labels)
        writer.add('dataset.json', json.dumps({'labels': labels if has_labels else None}).encode('utf-8'))
    return len(labels)

#----------------------------------------------------------------------------
# BreCaHAD (Aksac et al. 2019; StyleGAN2-ADA's small-data benchmark): square crops of its 1360x1024 TIFF images on a
# regular grid, as StyleGAN2-ADA's TensorFlow dataset_tool cut them: 256 px crops side by side, 512 px crops
# overlapping by half; columns outer, rows inner, images in name order, numbered 0000.png, 0001.png, ... across them.

BRECAHAD_CROP_OVERLAP = {256: 0.0, 512: 0.5}

def extract_brecahad_crops(brecahad_dir, output_dir, cropsize=256, overwrite=False, progress=True):
    """Write the crops of every *.tif in brecahad_dir to output_dir; returns their number."""
    assert cropsize in BRECAHAD_CROP_OVERLAP
    if not os.path.isdir(brecahad_dir):
        raise UserError(f'{brecahad_dir}: no such directory')
    names = sorted(name for name in os.listdir(brecahad_dir) if name.endswith('.tif'))
    if not names:
        raise UserError(f'{brecahad_dir}: no .tif images found')
    step = int(cropsize * (1 - BRECAHAD_CROP_OVERLAP[cropsize]))
    num_crops = 0
    with DatasetWriter(output_dir, overwrite=overwrite) as writer:
        for name in tqdm.tqdm(names, unit='img', disable=not progress, file=sys.stdout):
            try:
                with PIL.Image.open(os.path.join(brecahad_dir, name)) as img:
                    img.load()
            except (OSError, SyntaxError, ValueError) as err:
                raise UserError(f'{brecahad_dir}: {name}: not a readable image ({one_line(err)})') from None
            width, height = img.size
            for x in range(0, width - cropsize + 1, step):
                for y in range(0, height - cropsize + 1, step):
                    buf = io.BytesIO()
                    img.crop((x, y, x + cropsize, y + cropsize)).save(buf, format='png')
                    writer.add(f'{num_crops:04d}.png', buf.getvalue())
                    num_crops += 1
        if num_crops == 0:
            raise UserError(f'{brecahad_dir}: every image is smaller than --cropsize={cropsize}')
    return num_crops

#----------------------------------------------------------------------------
