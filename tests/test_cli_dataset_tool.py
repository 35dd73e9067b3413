"""dataset_tool.py: round trips source -> zip/folder -> ImageFolderDataset for every source kind; bad input exits 2."""

import io
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import PIL.Image
import pytest

from training.dataset import ImageFolderDataset
from test_training_data_sources import (make_cifar_tarball, make_idx_pair, make_image_folder, make_image_zip,
    make_stl_bin, pattern, write_png)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------

def run_tool(*args):
    res = subprocess.run([sys.executable, os.path.join(ROOT, 'dataset_tool.py'), *args], capture_output=True, text=True,
                         cwd=ROOT)
    return res.returncode, res.stdout, res.stderr

def convert(*args):
    rc, out, err = run_tool(*args)
    assert rc == 0, err
    return out

def load(path):
    ds = ImageFolderDataset(path, use_labels=True)
    images = np.stack([ds[i][0] for i in range(len(ds))])
    labels = [ds.get_details(i).raw_label.tolist() if ds.has_labels else None for i in range(len(ds))]
    return ds, images, labels

def snapshot(path):
    """Every byte under a file or directory, to check that it was left untouched."""
    if os.path.isfile(path):
        return pathlib.Path(path).read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() for p in pathlib.Path(path).rglob('*') if p.is_file()}

def assert_bad_input(args, message):
    rc, _out, err = run_tool(*args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith('Error: ') and message in lines[0], err
    assert 'Traceback' not in err

#----------------------------------------------------------------------------
# Round trips: exact pixels and labels back from the written zip or folder.

def test_idx_to_zip_resized_rgb_and_gray(tmp_path):
    path, images, labels = make_idx_pair(tmp_path, n=5)
    out = convert(f'--source={path}', f'--dest={tmp_path}/out.zip', '--resolution=32', '--channels=3')
    assert 'Wrote 5 images' in out
    ds, got, got_labels = load(str(tmp_path / 'out.zip'))
    ref = np.stack([np.asarray(PIL.Image.fromarray(img).resize((32, 32), PIL.Image.LANCZOS)) for img in images])
    assert ds.image_shape == [3, 32, 32] and all(np.array_equal(got[:, c], ref) for c in range(3))
    assert got_labels == labels and ds.label_dim == 5
    with zipfile.ZipFile(tmp_path / 'out.zip') as zf:
        assert sorted(zf.namelist()) == ['00000/img00000000.png', '00000/img00000001.png', '00000/img00000002.png',
                                         '00000/img00000003.png', '00000/img00000004.png', 'dataset.json']
    convert(f'--source={path}', f'--dest={tmp_path}/gray', '--max-images=3')
    ds, got, got_labels = load(str(tmp_path / 'gray'))
    assert ds.image_shape == [1, 28, 28] and np.array_equal(got[:, 0], images[:3]) and got_labels == labels[:3]

def test_cifar10_round_trip_both_splits(tmp_path):
    train, train_labels, test, test_labels = make_cifar_tarball(tmp_path / 'cifar-10-python.tar.gz')
    convert(f'--source={tmp_path}/cifar-10-python.tar.gz', f'--dest={tmp_path}/train.zip')
    ds, got, labels = load(str(tmp_path / 'train.zip'))
    assert np.array_equal(got, train.transpose(0, 3, 1, 2)) and labels == train_labels
    convert(f'--source={tmp_path}/cifar-10-python.tar.gz', f'--dest={tmp_path}/test.zip', '--split=test')
    assert np.array_equal(load(str(tmp_path / 'test.zip'))[1], test.transpose(0, 3, 1, 2))

def test_stl10_round_trip_keeps_orientation(tmp_path):
    images = make_stl_bin(tmp_path / 'train_X.bin', n=2, labels=[4, 9])
    convert(f'--source={tmp_path}/train_X.bin', f'--dest={tmp_path}/stl.zip')
    _ds, got, labels = load(str(tmp_path / 'stl.zip'))
    assert np.array_equal(got, images.transpose(0, 3, 1, 2)) and labels == [4, 9]

def test_folder_and_zip_round_trip_with_labels_and_crop(tmp_path):
    images = pattern(3, 6, 10, 3)
    names = ['x/0.png', 'x/1.png', 'y.png']
    folder = make_image_folder(tmp_path / 'src', images, names, labels=[2, 0, 1])
    convert(f'--source={folder}', f'--dest={tmp_path}/a.zip', '--transform=center-crop')
    _ds, got, labels = load(str(tmp_path / 'a.zip'))
    assert np.array_equal(got, images[:, :, 2:8].transpose(0, 3, 1, 2)) and labels == [2, 0, 1]
    source_zip = make_image_zip(tmp_path / 'src.zip', images[:, :, :6], names)
    convert(f'--source={source_zip}', f'--dest={tmp_path}/b.zip', '--channels=1')
    ds, got, labels = load(str(tmp_path / 'b.zip'))
    ref = np.stack([np.asarray(PIL.Image.fromarray(img).convert('L')) for img in images[:, :, :6]])
    assert ds.image_shape == [1, 6, 6] and np.array_equal(got[:, 0], ref) and labels == [None] * 3

#----------------------------------------------------------------------------
# Bad input: one line 'Error: <file>: <problem>' on stderr, exit 2, no traceback, existing output untouched.

def test_missing_unreadable_and_empty_sources(tmp_path):
    assert_bad_input([f'--source={tmp_path}/nope', f'--dest={tmp_path}/o.zip'], f'{tmp_path}/nope: no such file')
    (tmp_path / 'bad.zip').write_bytes(b'garbage')
    assert_bad_input([f'--source={tmp_path}/bad.zip', f'--dest={tmp_path}/o.zip'], 'bad.zip: not a readable zip file')
    with zipfile.ZipFile(tmp_path / 'empty.zip', 'w') as zf:
        zf.writestr('notes.txt', 'hi')
    assert_bad_input([f'--source={tmp_path}/empty.zip', f'--dest={tmp_path}/o.zip'], 'empty.zip: no images found')
    assert not os.path.exists(tmp_path / 'o.zip')

def test_mixed_resolutions_and_non_square(tmp_path):
    write_png(str(tmp_path / 'mixed' / 'a.png'), pattern(1, 8, 8, 3)[0])
    write_png(str(tmp_path / 'mixed' / 'b.png'), pattern(1, 16, 16, 3)[0])
    assert_bad_input([f'--source={tmp_path}/mixed', f'--dest={tmp_path}/o.zip'], 'mixed: b.png: mixed image sizes')
    convert(f'--source={tmp_path}/mixed', f'--dest={tmp_path}/o.zip', '--resolution=8')
    write_png(str(tmp_path / 'wide' / 'a.png'), pattern(1, 8, 16, 3)[0])
    assert_bad_input([f'--source={tmp_path}/wide', f'--dest={tmp_path}/w.zip'], 'wide: a.png: image is 16x8, not square')
    assert not os.path.exists(tmp_path / 'w.zip') and sorted(os.listdir(tmp_path)) == ['mixed', 'o.zip', 'wide']

def test_wrong_idx_magic_and_truncated_tarball(tmp_path):
    path, _images, _labels = make_idx_pair(tmp_path, gz=True)
    labels_path = path.replace('images-idx3', 'labels-idx1')
    assert_bad_input([f'--source={labels_path}', f'--dest={tmp_path}/o.zip'], 'labels-idx1-ubyte.gz: wrong magic number 2049')
    make_cifar_tarball(tmp_path / 'c.tar.gz')
    data = (tmp_path / 'c.tar.gz').read_bytes()
    (tmp_path / 'cut.tar.gz').write_bytes(data[:len(data) * 2 // 3])
    assert_bad_input([f'--source={tmp_path}/cut.tar.gz', f'--dest={tmp_path}/o.zip'], 'cut.tar.gz: truncated or corrupt tarball')

@pytest.mark.parametrize('dest', ['out.zip', 'outdir'])
def test_existing_output_refused_then_replaced(tmp_path, dest):
    path, images, _labels = make_idx_pair(tmp_path, n=4)
    dest = str(tmp_path / dest)
    convert(f'--source={path}', f'--dest={dest}', '--max-images=2')
    before = snapshot(dest)
    assert_bad_input([f'--source={path}', f'--dest={dest}'], f'{dest}: already exists; pass --overwrite')
    write_png(str(tmp_path / 'wide' / 'a.png'), pattern(1, 8, 16)[0])
    assert_bad_input([f'--source={tmp_path}/wide', f'--dest={dest}', '--overwrite'], 'not square') # fails mid-way
    assert snapshot(dest) == before
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')] # no temporaries left behind
    convert(f'--source={path}', f'--dest={dest}', '--overwrite')
    assert len(ImageFolderDataset(dest)) == 4 and np.array_equal(ImageFolderDataset(dest)[3][0][0], images[3])

def test_option_errors_exit_2(tmp_path):
    path, _images, _labels = make_idx_pair(tmp_path)
    assert_bad_input([f'--source={path}', f'--dest={tmp_path}/o.zip', '--channels=2'], "'--channels'")
    assert_bad_input([f'--source={path}', f'--dest={tmp_path}/o.zip', '--split=test'], '--split applies to CIFAR-10')

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# StyleGAN2-ADA's dataset_tool options: --width/--height, --resize-filter, --max_images, --img-format, LSUN lmdb.

def test_width_height_and_box_filter_as_pil(tmp_path):
    images = pattern(3, 20, 20, 3)
    folder = make_image_folder(tmp_path / 'src', images, [f'{i}.png' for i in range(3)])
    convert(f'--source={folder}', f'--dest={tmp_path}/box.zip', '--width=8', '--height=8', '--resize-filter=box',
            '--max_images=2', '--img-format=L')
    _ds, got, _labels = load(str(tmp_path / 'box.zip'))
    ref = [np.asarray(PIL.Image.fromarray(img).resize((8, 8), PIL.Image.BOX).convert('L')) for img in images[:2]]
    assert got.shape == (2, 1, 8, 8) and np.array_equal(got[:, 0], np.stack(ref))
    convert(f'--source={folder}', f'--dest={tmp_path}/lanczos.zip', '--width=8', '--height=8')
    _ds, got, _labels = load(str(tmp_path / 'lanczos.zip'))
    ref = np.stack([np.asarray(PIL.Image.fromarray(img).resize((8, 8), PIL.Image.LANCZOS)) for img in images])
    assert np.array_equal(got.transpose(0, 2, 3, 1), ref) # lanczos is the default, as in StyleGAN2-ADA
    assert_bad_input([f'--source={folder}', f'--dest={tmp_path}/x.zip', '--width=8', '--height=4'],
                     'image is 20x20, becomes 8x4, not square')
    assert_bad_input([f'--source={folder}', f'--dest={tmp_path}/x.zip', '--width=8', '--resolution=8'], '--resolution')
    wide = make_image_folder(tmp_path / 'wide', pattern(1, 10, 20, 3), ['a.png'])
    assert_bad_input([f'--source={wide}', f'--dest={tmp_path}/w.zip', '--width=8', '--height=8'],
                     'a.png: image is 20x10, not square; pass --transform') # not stretched

def test_center_crop_wide_width_height_letterbox(tmp_path):
    images = pattern(1, 30, 40, 3) # 40 wide, 30 high: the 4:3 band is the whole image
    folder = make_image_folder(tmp_path / 'src', images, ['a.png'])
    convert(f'--source={folder}', f'--dest={tmp_path}/wide.zip', '--transform=center-crop-wide', '--width=16',
            '--height=12')
    _ds, got, _labels = load(str(tmp_path / 'wide.zip'))
    ref = np.asarray(PIL.Image.fromarray(images[0]).resize((16, 12), PIL.Image.LANCZOS))
    got = got[0].transpose(1, 2, 0)
    assert got.shape == (16, 16, 3) and np.array_equal(got[2:14], ref) and not got[:2].any() and not got[14:].any()

def make_lmdb(path, images):
    import lmdb
    with lmdb.open(str(path), map_size=1 << 24) as env, env.begin(write=True) as txn:
        for idx, img in enumerate(images):
            buf = io.BytesIO()
            PIL.Image.fromarray(img).save(buf, format='webp', lossless=True) # LSUN stores WebP
            txn.put(f'{idx:040x}'.encode(), buf.getvalue())
        txn.put(b'f' * 40, b'not an image')
    return str(path)

def test_lsun_lmdb_source(tmp_path):
    pytest.importorskip('lmdb')
    images = pattern(3, 12, 16, 3)
    source = make_lmdb(tmp_path / 'cat_lmdb', images)
    rc, _out, err = run_tool(f'--source={source}', f'--dest={tmp_path}/cat.zip', '--transform=center-crop',
                             '--width=8', '--height=8', '--max_images=200000')
    assert rc == 0 and err.count('does not decode') == 1, err
    ds, got, labels = load(str(tmp_path / 'cat.zip'))
    ref = np.stack([np.asarray(PIL.Image.fromarray(img[:, 2:14]).resize((8, 8), PIL.Image.LANCZOS)) for img in images])
    assert len(ds) == 3 and labels == [None] * 3 and np.array_equal(got.transpose(0, 2, 3, 1), ref)

def test_lsun_lmdb_without_the_package_says_so(tmp_path):
    source = tmp_path / 'dog_lmdb'
    source.mkdir()
    (source / 'data.mdb').write_bytes(b'')
    script = ('import sys; sys.modules["lmdb"] = None; sys.argv = ["dataset_tool.py"] + sys.argv[1:]; '
              'import dataset_tool; from dnnlib.util import cli_main; cli_main(dataset_tool.main)')
    res = subprocess.run([sys.executable, '-c', script, f'--source={source}', f'--dest={tmp_path}/dog.zip'],
                         capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert res.returncode == 2 and res.stderr.splitlines() == [
        f'Error: {source}: an LSUN lmdb source needs the lmdb package: pip install lmdb']

#----------------------------------------------------------------------------
# extract_brecahad_crops: StyleGAN2-ADA's grid of square crops (256 side by side, 512 overlapping by half).

def test_extract_brecahad_crops_cuts_the_grid_of_each_image(tmp_path):
    src = tmp_path / 'images'
    src.mkdir()
    images = [np.random.RandomState(seed).randint(0, 256, size=[h, w, 3], dtype=np.uint8)
              for seed, (h, w) in enumerate([(512, 768), (300, 600)])]
    for name, img in zip(['b.tif', 'a.tif'], images): # name order, not the order written
        PIL.Image.fromarray(img).save(src / name)
    (src / 'notes.txt').write_text('not an image')
    a, b = images[1], images[0]
    expected = {
        '256': [a[0:256, 0:256], a[0:256, 256:512], # a.tif: 600x300 -> 2 columns x 1 row
                b[0:256, 0:256], b[256:512, 0:256], b[0:256, 256:512], b[256:512, 256:512], # columns outer
                b[0:256, 512:768], b[256:512, 512:768]],
        '512': [b[0:512, 0:512], b[0:512, 256:768]], # a.tif is lower than 512; b.tif: a step of 256
    }
    for cropsize, crops in expected.items():
        out = tmp_path / f'crops{cropsize}'
        rc, stdout, err = run_tool('extract_brecahad_crops', f'--cropsize={cropsize}', f'--output_dir={out}',
                                   f'--brecahad_dir={src}')
        assert rc == 0, err
        assert f'Extracted {len(crops)} image crops' in stdout
        assert sorted(os.listdir(out)) == [f'{i:04d}.png' for i in range(len(crops))]
        for i, crop in enumerate(crops):
            assert np.array_equal(np.asarray(PIL.Image.open(out / f'{i:04d}.png')), crop), (cropsize, i)
    convert(f'--source={tmp_path}/crops512', f'--dest={tmp_path}/brecahad.zip')
    assert len(load(str(tmp_path / 'brecahad.zip'))[0]) == 2

def test_extract_brecahad_crops_bad_input(tmp_path):
    src = tmp_path / 'images'
    src.mkdir()
    crops = ['extract_brecahad_crops', f'--output_dir={tmp_path}/out']
    assert_bad_input(crops + [f'--brecahad_dir={src}'], 'images: no .tif images found')
    assert_bad_input(crops + [f'--brecahad_dir={tmp_path}/nope'], 'nope: no such directory')
    assert_bad_input(crops + [f'--brecahad_dir={src}', '--cropsize=128'], "'128' is not one of '256', '512'")
    PIL.Image.fromarray(np.zeros([8, 8, 3], dtype=np.uint8)).save(src / 'small.tif')
    assert_bad_input(crops + [f'--brecahad_dir={src}'], 'every image is smaller than --cropsize=256')
    (src / 'cut.tif').write_bytes(b'II*\x00')
    assert_bad_input(crops + [f'--brecahad_dir={src}'], 'images: cut.tif: not a readable image')
    assert not os.path.exists(tmp_path / 'out') # a failed run leaves nothing behind
    assert_bad_input(['--source=x', 'extract_brecahad_crops', f'--brecahad_dir={src}', f'--output_dir={tmp_path}/o'],
                     'extract_brecahad_crops: takes no --source or --dest')
    assert_bad_input([f'--dest={tmp_path}/o.zip'], "Missing option '--source'")
