"""Evaluation: seeded, deterministic rollouts of every policy and baseline, their metrics, aggregation.

- :mod:`~locomimic.evaluate.policies`: the task of a policy, checked loading of saved parameters,
  the fixed command a locomotion policy is evaluated on;
- :mod:`~locomimic.evaluate.episodes`: the rollout that records what the metrics need;
- :mod:`~locomimic.evaluate.metrics`: the metrics themselves (pure numpy) and 95% intervals;
- :mod:`~locomimic.evaluate.mujoco_sim`: the same episodes in plain MuJoCo for an exported policy (sim-to-sim);
- :mod:`~locomimic.evaluate.aggregate`: mean and interval over seeds, for summary.csv / metrics.json.
"""

from locomimic.evaluate.metrics import METRICS

__all__ = ["METRICS"]
