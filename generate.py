"""Generate images from a trained network pickle. Not implemented yet: this stub lands with issue 5 (StyleGAN2-ADA training)."""

import sys

if __name__ == '__main__':
    print('generate.py: not implemented yet; it lands with issue 5 (StyleGAN2-ADA training).', file=sys.stderr)
    sys.exit(2)
