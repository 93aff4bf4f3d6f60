"""RL training on MJX with brax: PPO (from BC or from scratch), checkpoints, resume, divergence guard."""
