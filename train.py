"""Train a StyleGAN2-ADA or searched generator. Not implemented yet: this stub lands with issue 5 (StyleGAN2-ADA training)."""

import sys

if __name__ == '__main__':
    print('train.py: not implemented yet; it lands with issue 5 (StyleGAN2-ADA training).', file=sys.stderr)
    sys.exit(2)
