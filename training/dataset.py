"""Training data with the StyleGAN2-ADA dataset interface (Karras et al. 2020, "Training GANs with limited data")."""

import os

import numpy as np
import torch

from dnnlib.util import EasyDict, UserError
from training.data_sources import ImageFiles, describe_size

#----------------------------------------------------------------------------
# Abstract dataset: uint8 CHW images and float32 labels (one-hot for integer labels), with a fixed random
# subset (max_size) and x-flipped copies (xflip). Subclasses load raw images and labels by raw index.

class Dataset(torch.utils.data.Dataset):
    def __init__(self,
        name,                   # Name of the dataset.
        raw_shape,              # Shape of the raw image data, [N, C, H, W].
        max_size    = None,     # Keep a fixed random subset of this many images, None = all. Applied before xflip.
        use_labels  = False,    # Return the labels? False = label_dim is 0.
        xflip       = False,    # Double the length with x-flipped copies. Applied after max_size.
        random_seed = 0,        # Seed of the max_size subset.
    ):
        self._name = name
        self._raw_shape = list(raw_shape)
        self._use_labels = use_labels
        self._raw_labels = None
        self._label_shape = None

        # Pick the subset and the flips.
        self._raw_idx = np.arange(self._raw_shape[0], dtype=np.int64)
        if max_size is not None and self._raw_idx.size > max_size:
            rnd = np.random.RandomState(random_seed)
            self._raw_idx = np.sort(rnd.permutation(self._raw_idx.size)[:max_size])
        self._xflip = np.zeros(self._raw_idx.size, dtype=np.uint8)
        if xflip:
            self._raw_idx = np.tile(self._raw_idx, 2)
            self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])

    def _get_raw_labels(self):
        if self._raw_labels is None:
            labels = self._load_raw_labels() if self._use_labels else None
            if labels is None:
                labels = np.zeros([self._raw_shape[0], 0], dtype=np.float32)
            assert isinstance(labels, np.ndarray) and labels.shape[0] == self._raw_shape[0]
            assert (labels.dtype == np.int64 and labels.ndim == 1 and np.all(labels >= 0)) or \
                (labels.dtype == np.float32 and labels.ndim == 2)
            self._raw_labels = labels
        return self._raw_labels

    def close(self): # to override
        pass

    def _load_raw_image(self, raw_idx): # to override: uint8 [C, H, W]
        raise NotImplementedError

    def _load_raw_labels(self): # to override: int64 [N] or float32 [N, L], or None
        raise NotImplementedError

    def __getstate__(self):
        return dict(self.__dict__, _raw_labels=None)

    def __del__(self):
        try:
            self.close()
        except Exception: # the interpreter may be shutting down
            pass

    def __len__(self):
        return self._raw_idx.size

    def __getitem__(self, idx):
        image = self._load_raw_image(self._raw_idx[idx])
        assert isinstance(image, np.ndarray) and list(image.shape) == self.image_shape and image.dtype == np.uint8
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        return image.copy(), self.get_label(idx)

    def get_label(self, idx):
        label = self._get_raw_labels()[self._raw_idx[idx]]
        if label.dtype == np.int64:
            onehot = np.zeros(self.label_shape, dtype=np.float32)
            onehot[label] = 1
            label = onehot
        return label.copy()

    def get_details(self, idx):
        return EasyDict(
            raw_idx   = int(self._raw_idx[idx]),
            xflip     = int(self._xflip[idx]) != 0,
            raw_label = self._get_raw_labels()[self._raw_idx[idx]].copy(),
        )

    @property
    def name(self):
        return self._name

    @property
    def image_shape(self):
        return list(self._raw_shape[1:])

    @property
    def num_channels(self):
        return self.image_shape[0]

    @property
    def resolution(self):
        assert self.image_shape[1] == self.image_shape[2]
        return self.image_shape[1]

    @property
    def label_shape(self):
        if self._label_shape is None:
            labels = self._get_raw_labels()
            if labels.dtype == np.int64:
                self._label_shape = [int(labels.max(initial=-1)) + 1]
            else:
                self._label_shape = list(labels.shape[1:])
        return list(self._label_shape)

    @property
    def label_dim(self):
        assert len(self.label_shape) == 1
        return self.label_shape[0]

    @property
    def has_labels(self):
        return any(x != 0 for x in self.label_shape)

    @property
    def has_onehot_labels(self):
        return self._get_raw_labels().dtype == np.int64

#----------------------------------------------------------------------------
# Square PNG/JPEG images of one size from a directory tree or a zip (as dataset_tool writes them), with
# labels from dataset.json. Grayscale images stay [1, H, W]; the rest are [3, H, W].

class ImageFolderDataset(Dataset):
    def __init__(self,
        path,                   # Directory or zip of images.
        resolution  = None,     # Required resolution, None = whatever the images have.
        **super_kwargs,         # Arguments of Dataset.
    ):
        self._path = os.fspath(path)
        self._files = ImageFiles(self._path)

        # Check that all images share one square size and channel count (headers only, no decoding).
        names = self._files.names
        first = self._files.header(names[0])
        for name in names[1:]:
            header = self._files.header(name)
            if header != first:
                raise UserError(f'{self._path}: mixed image sizes: {names[0]} is {describe_size(*first)}, '
                                f'{name} is {describe_size(*header)}')
        width, height, channels = first
        if width != height:
            raise UserError(f'{self._path}: images are {width}x{height}, not square')
        if resolution is not None and width != resolution:
            raise UserError(f'{self._path}: images are {width}x{height}, not the requested resolution {resolution}')

        name = os.path.splitext(os.path.basename(os.path.normpath(self._path)))[0]
        super().__init__(name=name, raw_shape=[len(names), channels, height, width], **super_kwargs)

    def close(self):
        self._files.close()

    def _load_raw_image(self, raw_idx):
        name = self._files.names[raw_idx]
        image = self._files.read_image(name)
        image = image[np.newaxis] if image.ndim == 2 else image.transpose(2, 0, 1) # HW => CHW, HWC => CHW
        if list(image.shape) != self.image_shape:
            raise UserError(f'{self._path}: {name}: image is {list(image.shape)}, the dataset {self.image_shape} (changed on disk?)')
        return image

    def _load_raw_labels(self):
        labels = self._files.labels()
        if labels is None:
            return None
        try:
            labels = np.array(labels)
        except ValueError as err:
            raise UserError(f'{self._path}: dataset.json: labels of different shapes') from err
        if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer) and np.all(labels >= 0):
            return labels.astype(np.int64)
        if labels.ndim == 2 and np.issubdtype(labels.dtype, np.number):
            return labels.astype(np.float32)
        raise UserError(f'{self._path}: dataset.json: labels must be ints >= 0 or equal-length lists of numbers')

#----------------------------------------------------------------------------
