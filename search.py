"""Search a GAN architecture with alphaGAN, AutoGAN or random search. Not implemented yet: this stub lands with issues 7-9 (nas/)."""

import sys

if __name__ == '__main__':
    print('search.py: not implemented yet; it lands with issues 7-9 (nas/).', file=sys.stderr)
    sys.exit(2)
