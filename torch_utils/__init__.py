"""ganas low-level PyTorch utilities (imports only dnnlib)."""
