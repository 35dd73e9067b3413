"""Torch-free utilities shared by every part of ganas."""

from .util import EasyDict, UserError, make_run_dir
