"""Shared pytest set-up: single-threaded torch, so tiny CPU tests do not fight over the 2 cores."""

import torch

torch.set_num_threads(1)
