"""Training: datasets, networks, losses, augmentation and the training loop."""
