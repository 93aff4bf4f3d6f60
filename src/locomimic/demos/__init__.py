"""Demonstrations: an expert rolled out in the batched MJX environment, recorded as a dataset."""

from locomimic.demos.dataset import DemoDataset, generate_demos, load_demos

__all__ = ["DemoDataset", "generate_demos", "load_demos"]
