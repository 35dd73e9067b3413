"""Project an image into the W space of a trained StyleGAN2 generator (searched or not), as StyleGAN2-ADA's
projector.py does; the result regenerates exactly with generate.py --projected-w."""

import os

import click
import numpy as np
import PIL.Image
import torch

from dnnlib.util import UserError, bool_option, cli_main, open_url
from metrics import detectors
import nas.backbones # every backbone's networks, also under the names older snapshots use
from training import projection
from training.image_grid import save_image, save_image_grid, to_uint8
from training.sampling import class_labels, load_generator, require_styles

#----------------------------------------------------------------------------
# The target as StyleGAN2-ADA prepares it: centre crop to a square, Lanczos resize to G's resolution.

def load_target(path, G):
    try:
        with PIL.Image.open(path) as img:
            img = img.convert('L' if G.img_channels == 1 else 'RGB')
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
        raise UserError(f'--target: cannot read {path} as an image ({type(err).__name__})') from None
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
    img = img.resize((G.img_resolution, G.img_resolution), PIL.Image.LANCZOS)
    x = np.asarray(img, dtype=np.uint8).reshape(G.img_resolution, G.img_resolution, G.img_channels)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())

def load_lpips(spec, device):
    try:
        filename = open_url(spec, return_filename=True)
        vgg16 = torch.jit.load(filename, map_location=device).eval()
    except UserError as err:
        raise UserError(f'--vgg: {err}; without it, --loss=mse needs no download') from None
    except Exception as err: # torch.jit.load fails in many ways on a file that is not TorchScript
        raise UserError(f'--vgg: {spec} is not a TorchScript file ({type(err).__name__})') from None
    if not detectors.has_lpips_output(vgg16):
        raise UserError(f'--vgg: {spec} has no LPIPS output (forward without return_lpips)')
    return vgg16

# proj.mp4 as StyleGAN2-ADA writes it: 10 frames per second, one per optimisation step, the target on the left and
# the projection at that step on the right, H.264 at 16 Mbit/s; through imageio-ffmpeg, which ganas does not require.

VIDEO_MISSING = ('proj.mp4 not written: --save-video needs the imageio-ffmpeg package (pip install imageio-ffmpeg); '
                 '--save-video=false skips it')

def write_video(path, G, ws, target, batch_size=16):
    """Write the frames of ws [num_steps, num_ws, w_dim] beside target [C, H, W] uint8; returns the frame count."""
    import imageio_ffmpeg # optional, checked by main()
    to_rgb = lambda x: np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x
    target = to_rgb(target.transpose(1, 2, 0))
    writer = imageio_ffmpeg.write_frames(path, (2 * target.shape[1], target.shape[0]), fps=10, codec='libx264',
                                         bitrate='16M', macro_block_size=2)
    writer.send(None) # start ffmpeg
    try:
        for start in range(0, len(ws), batch_size):
            with torch.no_grad():
                images = G.synthesis(ws[start:start + batch_size], noise_mode='const')
            images = to_uint8(images.cpu().numpy()).transpose(0, 2, 3, 1)
            for image in images:
                writer.send(np.ascontiguousarray(np.concatenate([target, to_rgb(image)], axis=1)))
    finally:
        writer.close()
    return len(ws)

#----------------------------------------------------------------------------

@click.command()
@click.option('--network', 'network',    help='Network snapshot (.pkl, .safetensors, or URL)', metavar='PATH', required=True)
@click.option('--target', 'target_path', help='Image to project (cropped to a square and resized to the network\'s)', metavar='FILE', required=True)
@click.option('--num-steps',             help='Optimisation steps', metavar='INT', type=click.IntRange(min=1), default=1000, show_default=True)
@click.option('--seed',                  help='Random seed', metavar='INT', type=int, default=303, show_default=True)
@click.option('--loss',                  help='Image distance: LPIPS (VGG16) or mean squared pixel error', type=click.Choice(['lpips', 'mse']), default='lpips', show_default=True)
@click.option('--vgg',                   help='VGG16 TorchScript file for LPIPS (path or URL)  [default: NVIDIA\'s vgg16.pt, downloaded once]', metavar='PATH')
@click.option('--class', 'class_idx',    help='Class label (conditional networks)', metavar='INT', type=click.IntRange(min=0))
@bool_option('--save-video',             help='Save proj.mp4, the optimisation step by step (needs imageio-ffmpeg)', default=True)
@click.option('--outdir',                help='Where to save the results', metavar='DIR', required=True)
@click.option('--device',                help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--allow-pickle',          help='Unpickle a foreign network pickle (runs its code: trusted files only)', is_flag=True)
def main(network, target_path, num_steps, seed, loss, vgg, class_idx, save_video, outdir, device, allow_pickle):
    """Project an image into W: optimise one w per mapping layer the network reads (one for StyleGAN2, one per
    distinct W_i for dynamic-W genotypes) and the noise maps so that the generated image matches the target.

    Writes target.png, proj.png, progress.png (the target, then the projection at eight points of the
    optimisation), projected_w.npz (w [1, num_ws, w_dim] and the noise maps) and proj.mp4 (every step beside the
    target, with imageio-ffmpeg) to --outdir.

    \b
    Examples:
    python projector.py --network=net.pkl --target=face.png --outdir=proj
    python projector.py --network=net.pkl --target=shirt.png --loss=mse --num-steps=300 --outdir=proj
    python generate.py --network=net.pkl --projected-w=proj/projected_w.npz --outdir=out
    """
    if vgg is not None and loss != 'lpips':
        raise click.UsageError('--vgg: only used with --loss=lpips')
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    G = load_generator(network, device, allow_pickle)
    require_styles(G, 'projection')
    target = load_target(target_path, G).to(device)
    c = class_labels(G, class_idx, 1, device)
    features = projection.LPIPSFeatures(load_lpips(vgg or detectors.VGG16_URL, device)) if loss == 'lpips' else projection.pixel_features

    result = projection.project(G, target, features=features, c=c, num_steps=num_steps, seed=seed, progress=True)
    print(f'Distance ({loss}) after {num_steps} steps: {result.distances[-1]:.4f} (first step {result.distances[0]:.4f})')

    # Save the target, the projection (with its noise maps), and eight points of the optimisation.
    os.makedirs(outdir, exist_ok=True)
    projection.save_projected_w(os.path.join(outdir, 'projected_w.npz'), result.ws[-1:], result.noise)
    projection.set_noise_maps(G, result.noise)
    steps = np.unique(np.linspace(0, num_steps - 1, 8).round().astype(int))
    with torch.no_grad():
        images = G.synthesis(result.ws[steps], noise_mode='const').cpu().numpy()
    target = target.cpu().numpy()
    save_image(target, os.path.join(outdir, 'target.png'), drange=(0, 255))
    save_image(images[-1], os.path.join(outdir, 'proj.png'))
    save_image_grid(np.concatenate([target[None] / 127.5 - 1, images]), os.path.join(outdir, 'progress.png'),
                    grid_size=(len(steps) + 1, 1))
    print(f'Saved target.png, proj.png, progress.png and projected_w.npz to {outdir}')
    if save_video:
        try:
            import imageio_ffmpeg # noqa: F401 (optional: only the video needs it)
        except ImportError:
            print(VIDEO_MISSING)
            return
        path = os.path.join(outdir, 'proj.mp4')
        num_frames = write_video(path, G, result.ws, target)
        print(f'Saved {path} ({num_frames} frames)')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
