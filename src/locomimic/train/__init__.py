"""RL training on MJX with brax: PPO (from BC or from scratch) and AMP, checkpoints, resume, divergence guard."""
