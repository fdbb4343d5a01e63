"""The fine-tuning worker: data, packing, the training loop and checkpoints (design §6)."""
