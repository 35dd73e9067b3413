"""training.image_grid: uint8 conversion, tiling order, PNG files."""

import numpy as np
import PIL.Image

from training import image_grid

#----------------------------------------------------------------------------

def test_to_uint8_maps_drange_endpoints():
    x = np.array([-1.0, 0.0, 1.0, 3.0], dtype=np.float32).reshape(1, 1, 2, 2)
    assert image_grid.to_uint8(x).ravel().tolist() == [0, 128, 255, 255]
    assert image_grid.to_uint8(np.full([1, 1, 1, 1], 127.5), drange=(0, 255)).item() == 128
    u = np.arange(4, dtype=np.uint8).reshape(1, 1, 2, 2)
    assert image_grid.to_uint8(u) is u

def test_tile_images_row_major_with_padding():
    images = np.stack([np.full([3, 2, 2], i, dtype=np.uint8) for i in range(5)])
    grid = image_grid.tile_images(images, grid_size=(3, 2))
    assert grid.shape == (4, 6, 3)
    # Top row holds images 0,1,2 left to right; bottom row 3,4 and one black pad.
    assert [grid[0, 2 * i, 0] for i in range(3)] == [0, 1, 2]
    assert [grid[2, 2 * i, 0] for i in range(3)] == [3, 4, 0]

def test_grid_size_for_resolution_and_cap():
    assert image_grid.grid_size_for(256) == (30, 16)
    assert image_grid.grid_size_for(32) == (32, 32)
    gw, gh = image_grid.grid_size_for(32, max_images=10)
    assert gw * gh <= 10 and gw >= 1 and gh >= 1
    # A cap keeps the screen's shape: a square one stays square, a 30x16 one stays wider than high.
    assert image_grid.grid_size_for(32, max_images=64) == (8, 8)
    assert image_grid.grid_size_for(256, max_images=200) == (19, 10)
    assert image_grid.grid_size_for(32, max_images=1) == (1, 1)

def test_save_grid_and_image_modes(tmp_path):
    rgb = np.random.RandomState(0).uniform(-1, 1, [4, 3, 8, 8]).astype(np.float32)
    image_grid.save_image_grid(rgb, tmp_path / 'g.png', grid_size=(2, 2))
    img = PIL.Image.open(tmp_path / 'g.png')
    assert img.mode == 'RGB' and img.size == (16, 16)
    assert np.array_equal(np.asarray(img)[:8, 8:16].transpose(2, 0, 1), image_grid.to_uint8(rgb[1]))
    gray = np.zeros([1, 8, 8], dtype=np.float32)
    image_grid.save_image(gray, tmp_path / 'one.png')
    img = PIL.Image.open(tmp_path / 'one.png')
    assert img.mode == 'L' and np.asarray(img).max() == 128

#----------------------------------------------------------------------------
