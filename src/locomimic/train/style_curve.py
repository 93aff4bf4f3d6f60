"""The style reward of every AMP checkpoint, judged by one discriminator: the run's last.

Why: the style reward AMP logs while it trains scores each iteration's policy with that iteration's
discriminator. Both move, so the logged number can fall while the motion gets closer to the reference
(a discriminator that learns faster than the policy marks everything down). Scored by one fixed
judge, the checkpoints become comparable: this curve says whether the policy's own motion came
closer to the motion prior over training. Each checkpoint's deterministic policy walks from the
standing pose (no reference starts), as in AMP's evaluation.
"""

from __future__ import annotations

from pathlib import Path

from locomimic.envs.rollout import rollout
from locomimic.evaluate.metrics import first_episode_mask
from locomimic.policy import deterministic_act
from locomimic.train import checkpoints
from locomimic.train import discriminator as disc_lib
from locomimic.train.amp import restore_discriminator


def checkpoint_style_rewards(run_dir: Path, env, env_settings: dict, policy_settings: dict, amp_settings: dict,
                             num_envs: int, seed: int) -> list[dict]:
    """One row per checkpoint of the AMP run in ``run_dir``: step, style reward, forward speed, survival.

    ``env`` is the run's LocomotionEnv (with ``feature_history``). Every checkpoint is rolled out for
    one episode per environment on the same seed; the style reward is averaged over the steps each
    environment's first episode lasted. Damaged checkpoints are skipped with a warning (left in place:
    the training run that owns the folder sets them aside when it resumes); the judge is the newest
    good one.
    """
    folder = Path(run_dir) / "checkpoints"
    newest = next(checkpoints.good_checkpoints(folder, move_aside=False), None)
    if newest is None:
        raise FileNotFoundError(f"{run_dir}: no readable checkpoints to score")
    judge = restore_discriminator(newest[2][3])
    module = disc_lib.Discriminator(tuple(amp_settings["hidden_layers"]))
    env = env.without_reference_init()
    act = deterministic_act(env.observation_size, env.action_size, policy_settings)

    def style(state, action, next_state):
        logit = disc_lib.logits(module, judge.params, judge.normalizer, next_state.info["motion_history"])
        return {"style_reward": disc_lib.style_reward(logit, amp_settings["loss"]),
                "forward_velocity": next_state.metrics["forward_velocity_per_step"],
                "command": next_state.info["command"][..., 0]}

    rows = []
    for step, _, saved in checkpoints.good_checkpoints(folder, newest_first=False, move_aside=False):
        normalizer, policy, value = saved[:3]
        record = rollout(env, act, env_settings, num_envs, env_settings["episode_length"], seed,
                         label=f"style of step {step}", record_fn=style, act_params=(normalizer, policy, value))
        _, mask = first_episode_mask(record["dones"])
        fell = record["falls"].astype(bool) & mask
        rows.append({"step": step, "style_reward": float(record["style_reward"][mask].mean()),
                     "forward_velocity": float(record["forward_velocity"][mask].mean()),
                     "command_forward_velocity": float(record["command"][mask].mean()),
                     "survival": float(1.0 - fell.any(axis=1).mean())})
    return rows
