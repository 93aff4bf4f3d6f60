"""MJX environments on MuJoCo Playground's ``MjxEnv`` API, for any registered robot.

- :class:`~locomimic.envs.imitation.ImitationEnv` follows a motion (a set of retargeted clips);
- :class:`~locomimic.envs.locomotion.LocomotionEnv` follows velocity commands.

Both run 50 Hz control through the robot's PD law and plug into brax training through
``mujoco_playground.wrapper.wrap_for_brax_training`` (see :func:`locomimic.envs.factory.make_env`).
"""

from locomimic.envs.factory import make_env, make_training_env

__all__ = ["make_env", "make_training_env"]
