"""Image grids for previews (fakes*.png, reals.png) and generate.py --grid."""

import numpy as np
import PIL.Image

from dnnlib.util import atomic_write

#----------------------------------------------------------------------------
# Grid size that fills about a 4K screen, as StyleGAN2-ADA's previews do, capped by the images available.

def grid_size_for(resolution, max_images=None):
    gw = int(np.clip(7680 // resolution, 7, 32))
    gh = int(np.clip(4320 // resolution, 4, 32))
    if max_images is not None and gw * gh > max_images: # fewer images, same screen shape (64 at 32 px: 8x8, not 32x2)
        gw = int(np.clip(round(np.sqrt(max_images * gw / gh)), 1, gw))
        gh = int(np.clip(max_images // gw, 1, gh))
    return gw, gh

#----------------------------------------------------------------------------
# Float images in `drange` to uint8 (uint8 input passes through).

def to_uint8(images, drange=(-1, 1)):
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    lo, hi = drange
    return np.rint((images.astype(np.float32) - lo) * (255 / (hi - lo))).clip(0, 255).astype(np.uint8)

def _write_png(hwc, path):
    img = PIL.Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc, 'L' if hwc.shape[2] == 1 else 'RGB')
    with atomic_write(path) as f:
        img.save(f, format='png')

def save_image(image, path, drange=(-1, 1)):
    """Write one [C, H, W] image as a grayscale or RGB PNG."""
    _write_png(to_uint8(image, drange).transpose(1, 2, 0), path)

#----------------------------------------------------------------------------
# Tile [N, C, H, W] images (float in drange or uint8) into one uint8 HWC array, row-major.

def tile_images(images, grid_size, drange=(-1, 1)):
    images = to_uint8(images, drange)
    gw, gh = grid_size
    n, c, h, w = images.shape
    if n < gw * gh:
        images = np.concatenate([images, np.zeros([gw * gh - n, c, h, w], dtype=np.uint8)])
    images = images[:gw * gh].reshape(gh, gw, c, h, w).transpose(0, 3, 1, 4, 2).reshape(gh * h, gw * w, c)
    return images

def save_image_grid(images, path, grid_size, drange=(-1, 1)):
    """Write a grid PNG atomically; 1-channel images become grayscale, 3-channel RGB."""
    _write_png(tile_images(images, grid_size, drange), path)

#----------------------------------------------------------------------------
