"""The fine-tuning worker: tokenised data, packing, the training loop and checkpoints (design §6)."""
