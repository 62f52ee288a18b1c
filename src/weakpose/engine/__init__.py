"""Training engine shared by every method: configs, the training loop, checkpoints, logs, DDP."""
