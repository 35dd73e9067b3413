"""training.dataset: ImageFolderDataset on tiny folders and zips: pixels, labels, xflip, max_size, pickling, bad input."""

import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from dnnlib.util import UserError
from training.dataset import ImageFolderDataset
from test_training_data_sources import make_image_folder, make_image_zip, pattern, write_png

#----------------------------------------------------------------------------

NAMES = ['00000/img00000000.png', '00000/img00000001.png', '00000/img00000002.png', '00000/img00000003.png']

@pytest.fixture
def rgb_zip(tmp_path):
    images = pattern(4, 8, 8, 3)
    return make_image_zip(tmp_path / 'rgb8.zip', images, NAMES, labels=[3, 0, 2, 3]), images

def test_zip_rgb_pixels_and_onehot_labels(rgb_zip):
    path, images = rgb_zip
    ds = ImageFolderDataset(path, use_labels=True)
    assert (ds.name, len(ds), ds.image_shape, ds.num_channels, ds.resolution) == ('rgb8', 4, [3, 8, 8], 3, 8)
    assert ds.label_shape == [4] and ds.label_dim == 4 and ds.has_labels and ds.has_onehot_labels
    for i in range(4):
        image, label = ds[i]
        assert image.dtype == np.uint8 and np.array_equal(image, images[i].transpose(2, 0, 1))
        assert label.dtype == np.float32 and np.array_equal(label, np.eye(4, dtype=np.float32)[[3, 0, 2, 3][i]])
    assert ds.get_details(2).raw_label == 2 and np.array_equal(ds.get_label(0), ds[0][1])

def test_labels_off_give_empty_labels(rgb_zip):
    ds = ImageFolderDataset(rgb_zip[0])
    image, label = ds[0]
    assert label.shape == (0,) and label.dtype == np.float32
    assert ds.label_shape == [0] and not ds.has_labels

def test_folder_grayscale_keeps_one_channel(tmp_path):
    images = pattern(2, 16, 16)
    ds = ImageFolderDataset(make_image_folder(tmp_path / 'gray', images, ['a.png', 'sub/b.png']), resolution=16)
    assert ds.image_shape == [1, 16, 16] and ds.name == 'gray'
    assert np.array_equal(ds[1][0], images[1][np.newaxis])

def test_float_labels(tmp_path):
    labels = [[0.5, -1.0], [2.0, 0.25]]
    ds = ImageFolderDataset(make_image_folder(tmp_path / 'f', pattern(2, 4, 4), ['a.png', 'b.png'], labels), use_labels=True)
    assert not ds.has_onehot_labels and ds.label_shape == [2]
    assert np.array_equal(ds[1][1], np.float32([2.0, 0.25]))

def test_xflip_doubles_with_mirrored_copies(rgb_zip):
    path, images = rgb_zip
    ds = ImageFolderDataset(path, xflip=True, use_labels=True)
    assert len(ds) == 8
    for i in range(4):
        assert np.array_equal(ds[i][0], images[i].transpose(2, 0, 1))
        assert np.array_equal(ds[i + 4][0], images[i][:, ::-1].transpose(2, 0, 1))
        assert np.array_equal(ds[i + 4][1], ds[i][1])
        assert ds.get_details(i + 4).xflip and ds.get_details(i + 4).raw_idx == i and not ds.get_details(i).xflip

def test_max_size_is_a_fixed_random_subset(tmp_path):
    n = 20
    images = pattern(n, 4, 4)
    path = make_image_zip(tmp_path / 'many.zip', images, [f'{i:03d}.png' for i in range(n)])
    subsets = [[ImageFolderDataset(path, max_size=5, random_seed=s).get_details(i).raw_idx for i in range(5)]
               for s in [0, 0, 1]]
    assert subsets[0] == subsets[1] != subsets[2]
    assert len(set(subsets[0])) == 5 and subsets[0] == sorted(subsets[0])
    ds = ImageFolderDataset(path, max_size=5, xflip=True, random_seed=0)
    assert len(ds) == 10 and ds.get_details(7).raw_idx == subsets[0][2]
    assert np.array_equal(ds[2][0], images[subsets[0][2]][np.newaxis])
    assert len(ImageFolderDataset(path, max_size=100)) == n

def test_pickle_after_use_and_dataloader_workers(rgb_zip):
    path, images = rgb_zip
    ds = ImageFolderDataset(path, use_labels=True)
    _ = ds[0] # opens the zip
    clone = pickle.loads(pickle.dumps(ds))
    ds.close()
    assert np.array_equal(clone[3][0], images[3].transpose(2, 0, 1)) and clone.label_dim == 4
    loader = torch.utils.data.DataLoader(clone, batch_size=2, num_workers=2)
    batches = list(loader)
    x = torch.cat([b[0] for b in batches])
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.uint8
    assert np.array_equal(x.numpy(), images.transpose(0, 3, 1, 2))

def test_forked_workers_reopen_the_zip(tmp_path, monkeypatch):
    # A handle inherited across fork shares its file offset with the parent: concurrent reads then fail.
    images = pattern(128, 8, 8, 3)
    path = make_image_zip(tmp_path / 'many.zip', images, [f'{i:05d}.png' for i in range(128)])
    ds = ImageFolderDataset(path)
    _ = ds[0] # the parent opens the zip before the workers fork
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context='fork')
    x = torch.cat([batch[0] for batch in loader])
    assert np.array_equal(x.numpy(), images.transpose(0, 3, 1, 2))
    handle = ds._files._get_zipfile()
    assert ds._files._get_zipfile() is handle # same process: the handle is reused
    monkeypatch.setattr('os.getpid', lambda: -1)
    assert ds._files._get_zipfile() is not handle

#----------------------------------------------------------------------------
# Bad input: one-line UserError naming the path.

def test_missing_and_unreadable(tmp_path):
    with pytest.raises(UserError, match='nope.zip: no such file or directory'):
        ImageFolderDataset(str(tmp_path / 'nope.zip'))
    (tmp_path / 'bad.zip').write_bytes(b'PK\x03\x04 but then nothing sensible')
    with pytest.raises(UserError, match='bad.zip: not a readable zip file'):
        ImageFolderDataset(str(tmp_path / 'bad.zip'))

def test_no_images(tmp_path):
    with zipfile.ZipFile(tmp_path / 'e.zip', 'w') as zf:
        zf.writestr('dataset.json', json.dumps({'labels': None}))
    with pytest.raises(UserError, match='e.zip: no images found'):
        ImageFolderDataset(str(tmp_path / 'e.zip'))

def test_mixed_resolutions_and_channels(tmp_path):
    write_png(str(tmp_path / 'a' / '0.png'), pattern(1, 8, 8, 3)[0])
    write_png(str(tmp_path / 'a' / '1.png'), pattern(1, 16, 16, 3)[0])
    with pytest.raises(UserError, match='mixed image sizes: 0.png is 8x8 with 3 channel.*1.png is 16x16 with 3'):
        ImageFolderDataset(str(tmp_path / 'a'))
    write_png(str(tmp_path / 'b' / '0.png'), pattern(1, 8, 8, 3)[0])
    write_png(str(tmp_path / 'b' / '1.png'), pattern(1, 8, 8)[0])
    with pytest.raises(UserError, match='1.png is 8x8 with 1 channel'):
        ImageFolderDataset(str(tmp_path / 'b'))

def test_non_square_and_wrong_resolution(tmp_path, rgb_zip):
    write_png(str(tmp_path / 'w' / '0.png'), pattern(1, 8, 16, 3)[0])
    with pytest.raises(UserError, match='w: images are 16x8, not square'):
        ImageFolderDataset(str(tmp_path / 'w'))
    with pytest.raises(UserError, match='rgb8.zip: images are 8x8, not the requested resolution 32'):
        ImageFolderDataset(rgb_zip[0], resolution=32)
    assert ImageFolderDataset(rgb_zip[0], resolution=8).resolution == 8

def test_missing_label_in_dataset_json(tmp_path):
    path = make_image_folder(tmp_path / 'l', pattern(2, 4, 4), ['a.png', 'b.png'], labels=[1, 2])
    with open(tmp_path / 'l' / 'dataset.json', 'w') as f:
        json.dump({'labels': [['a.png', 1]]}, f)
    with pytest.raises(UserError, match='dataset.json: no label for b.png'):
        ImageFolderDataset(path, use_labels=True)[0]

#----------------------------------------------------------------------------
