"""Behaviour cloning: fit brax's PPO policy network to demonstrations, so PPO can start from it."""

from locomimic.bc.train import BCResult, train_bc

__all__ = ["BCResult", "train_bc"]
