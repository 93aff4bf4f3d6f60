"""RL training on MJX with brax: PPO (from BC or from scratch) and AMP, checkpoints, resume, divergence guard."""

TASK_OF_ALGO = {"ppo": "imitation", "ppo_scratch": "imitation", "amp": "locomotion"}


def algo_task(algo: str) -> str:
    """The environment an algorithm trains (and is evaluated) on: AMP follows velocity commands."""
    return TASK_OF_ALGO.get(algo, "imitation")
