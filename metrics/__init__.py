"""Quality metrics: FID, KID, IS, precision/recall."""
