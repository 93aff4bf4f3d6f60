"""AMP (Adversarial Motion Priors, Peng et al. 2021): PPO on the locomotion task plus a style reward.

Each iteration:

1. roll the policy out in the batched locomotion env (``brax.training.acting.generate_unroll``);
   the env carries the motion-feature history of every state (``info["motion_history"]``);
2. score each transition's history with the discriminator; the reward PPO sees is
   ``task_weight * task_reward + style_weight * style_reward * dt`` (the task reward is already
   scaled by ``dt``, so both weights act on rewards of the same size);
3. one PPO update with brax's own pieces: ``ppo.losses.compute_ppo_loss``, ``gradients.loss_and_pgrad``,
   the networks of ``ppo.networks`` and the observation normaliser of ``running_statistics``;
4. ``disc_updates`` discriminator steps on reference histories (sampled from the motion's clips)
   against policy histories, half from this iteration and half from the replay buffer;
5. this iteration's histories go into the replay buffer.

The policy starts from the locomotion BC policy when one is given (:mod:`locomimic.bc.locomotion`
says why). The normaliser's command inputs stay pinned to the task's command range
(:func:`locomimic.envs.locomotion.pin_command_statistics` says why). Evaluation uses brax's
``acting.Evaluator`` with deterministic actions, from step 0.
Checkpoints, step 0's included, hold the policy tuple ``(normalizer, policy, value)`` and the
discriminator, so a resumed run keeps its style reward; optimiser states and the replay buffer start
afresh on resume (as brax PPO's optimiser does). AMP trains on one device.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path

import flax
import jax
import jax.numpy as jp
import numpy as np
import optax
from brax.training import acting, gradients, types
from brax.training.acme import running_statistics
from brax.training.agents.ppo import losses as ppo_losses
from brax.training.agents.ppo import networks as ppo_networks

from locomimic.envs import make_training_env
from locomimic.envs import motion_features
from locomimic.envs.locomotion import pin_command_statistics
from locomimic.envs.motion_features import ReferenceHistories
from locomimic.policy import empty_normalizer, make_networks
from locomimic.train import discriminator as disc_lib
from locomimic.train.run import TrainingRun, params_digest, run_shape

log = logging.getLogger("locomimic")


@flax.struct.dataclass
class AMPState:
    policy_optimizer: optax.OptState
    params: ppo_losses.PPONetworkParams
    normalizer: running_statistics.RunningStatisticsState
    disc: disc_lib.DiscriminatorState
    disc_optimizer: optax.OptState
    replay: disc_lib.ReplayBuffer


def _checkpoint(state: AMPState) -> list:
    """What a checkpoint holds: brax's policy tuple, then the discriminator."""
    return [state.normalizer, state.params.policy, state.params.value,
            {"params": state.disc.params, "normalizer": state.disc.normalizer}]


def restore_discriminator(saved: dict) -> disc_lib.DiscriminatorState:
    """The discriminator from a checkpoint (Orbax gives its normaliser back as plain dicts)."""
    normalizer = dict(saved["normalizer"])
    if isinstance(normalizer["count"], dict):  # brax's UInt64 step count, saved as {hi, lo}
        normalizer["count"] = types.UInt64(**normalizer["count"])
    return disc_lib.DiscriminatorState(saved["params"], running_statistics.RunningStatisticsState(**normalizer))


def train_amp(env, reference, env_settings: dict, policy_settings: dict, settings: dict, run_dir: Path,
              seed: int, initial_params=None) -> dict:
    """Train (or resume) one AMP run of ``env`` (a LocomotionEnv with ``feature_history``) in ``run_dir``.

    ``initial_params`` (the locomotion BC policy, :mod:`locomimic.bc.locomotion`) gives the observation
    normaliser and the policy; the value network starts fresh, because BC fitted it to the imitation
    reward and AMP's reward is another one.
    """
    ppo, amp = settings["ppo"], settings["amp"]
    run = TrainingRun(run_dir, settings["num_timesteps"], env_settings, policy_settings, run_shape(settings), seed,
                      reference.names, "amp", None if initial_params is None else params_digest(initial_params),
                      tracking=settings.get("tracking"))
    num_envs, unroll = ppo["num_envs"], ppo["unroll_length"]
    unrolls_per_iteration = ppo["batch_size"] * ppo["num_minibatches"] // num_envs
    if unrolls_per_iteration < 1 or ppo["batch_size"] * ppo["num_minibatches"] % num_envs:
        raise ValueError("train.ppo: batch_size * num_minibatches must be a multiple of num_envs")
    steps_per_iteration = unrolls_per_iteration * num_envs * unroll
    iterations_per_checkpoint = max(1, round(settings["checkpoint_every"] / steps_per_iteration))
    history = amp["history"]

    networks = make_networks(env.observation_size, env.action_size, policy_settings)
    make_policy = ppo_networks.make_inference_fn(networks)
    module = disc_lib.Discriminator(tuple(amp["hidden_layers"]))
    references = ReferenceHistories(reference, np.asarray(env.robot.joint_qpos_adr),
                                    np.asarray(env.robot.joint_dof_adr), history)
    feature_size = motion_features.feature_size(len(env.robot.joint_qpos_adr), len(env.robot.end_effectors))

    policy_optimizer = optax.chain(optax.clip_by_global_norm(ppo["max_grad_norm"]), optax.adam(ppo["learning_rate"]))
    disc_optimizer = optax.adam(amp["learning_rate"])
    key = jax.random.PRNGKey(seed + run.start_step)
    key, key_policy, key_value, key_disc, key_env, key_eval = jax.random.split(key, 6)
    if run.resumed is not None:
        normalizer, policy_params, value_params, saved_disc = run.resumed
        params = ppo_losses.PPONetworkParams(policy=policy_params, value=value_params)
        disc = restore_discriminator(saved_disc)
    else:
        if initial_params is not None:
            normalizer, policy_params, _ = initial_params
        else:
            normalizer = empty_normalizer(env.observation_size)
            policy_params = networks.policy_network.init(key_policy)
        params = ppo_losses.PPONetworkParams(policy=policy_params, value=networks.value_network.init(key_value))
        disc = disc_lib.init_state(module, key_disc, history * feature_size)
    pin_commands = functools.partial(pin_command_statistics, low=env.command_bounds[0], high=env.command_bounds[1])
    normalizer = pin_commands(normalizer)
    state = AMPState(policy_optimizer.init(params), params, normalizer, disc, disc_optimizer.init(disc.params),
                     disc_lib.ReplayBuffer.create(amp["replay_size"], history, feature_size))

    loss_and_grad = gradients.loss_and_pgrad(
        functools.partial(ppo_losses.compute_ppo_loss, ppo_network=networks, entropy_cost=ppo["entropy_cost"],
                          discounting=ppo["discounting"], reward_scaling=ppo["reward_scaling"],
                          gae_lambda=ppo["gae_lambda"], clipping_epsilon=ppo["clipping_epsilon"],
                          normalize_advantage=True),
        pmap_axis_name=None, has_aux=True)
    disc_loss_and_grad = jax.value_and_grad(
        functools.partial(disc_lib.loss_fn, module=module, settings=amp), has_aux=True)
    train_env = make_training_env(env, env_settings, num_envs, seed)

    def rollout(state: AMPState, env_state, key):
        policy = make_policy((state.normalizer, state.params.policy, state.params.value))

        def one_unroll(carry, _):
            env_state, key = carry
            key, unroll_key = jax.random.split(key)
            env_state, data = acting.generate_unroll(train_env, env_state, policy, unroll_key, unroll,
                                                     extra_fields=("truncation", "motion_history"))
            return (env_state, key), data

        (env_state, _), data = jax.lax.scan(one_unroll, (env_state, key), (), length=unrolls_per_iteration)
        # [unrolls, T, envs, ...] -> [unrolls * envs, T, ...], the layout brax's PPO loss expects.
        data = jax.tree_util.tree_map(lambda x: jp.swapaxes(x, 1, 2), data)
        return env_state, jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), data)

    def ppo_update(state: AMPState, data: types.Transition, key):
        def minibatch_step(carry, minibatch):
            optimizer_state, params, key = carry
            key, key_loss = jax.random.split(key)
            (_, metrics), grads = loss_and_grad(params, state.normalizer, minibatch, key_loss)
            updates, optimizer_state = policy_optimizer.update(grads, optimizer_state)
            return (optimizer_state, optax.apply_updates(params, updates), key), metrics

        def epoch(carry, _):
            optimizer_state, params, key = carry
            key, key_perm, key_grad = jax.random.split(key, 3)
            shuffled = jax.tree_util.tree_map(
                lambda x: jax.random.permutation(key_perm, x).reshape((ppo["num_minibatches"], -1) + x.shape[1:]),
                data)
            (optimizer_state, params, _), metrics = jax.lax.scan(
                minibatch_step, (optimizer_state, params, key_grad), shuffled)
            return (optimizer_state, params, key), metrics

        (optimizer_state, params, _), metrics = jax.lax.scan(
            epoch, (state.policy_optimizer, state.params, key), (), length=ppo["num_updates_per_batch"])
        return state.replace(policy_optimizer=optimizer_state, params=params), metrics

    def disc_update(state: AMPState, policy_histories: jax.Array, key):
        batch = amp["batch_size"]
        key_norm, key_steps = jax.random.split(key)
        disc = state.disc.replace(normalizer=running_statistics.update(
            state.disc.normalizer, jp.concatenate([
                references.sample(key_norm, batch).reshape(batch, -1),
                policy_histories[:batch].reshape(-1, history * feature_size)])))

        def step(carry, key):
            params, optimizer_state = carry
            key_ref, key_now, key_old = jax.random.split(key, 3)
            recent = policy_histories[jax.random.randint(key_now, (batch - batch // 2,), 0, len(policy_histories))]
            older = jp.where(state.replay.size > 0, state.replay.sample(key_old, batch // 2),
                             policy_histories[:batch // 2])
            (_, metrics), grads = disc_loss_and_grad(params, normalizer=disc.normalizer,
                                                     reference=references.sample(key_ref, batch),
                                                     policy=jp.concatenate([recent, older]))
            updates, optimizer_state = disc_optimizer.update(grads, optimizer_state)
            return (optax.apply_updates(params, updates), optimizer_state), metrics

        (params, optimizer_state), metrics = jax.lax.scan(
            step, (disc.params, state.disc_optimizer), jax.random.split(key_steps, amp["disc_updates"]))
        return state.replace(disc=disc.replace(params=params), disc_optimizer=optimizer_state), metrics

    @jax.jit
    def iteration(state: AMPState, env_state, key):
        key_rollout, key_ppo, key_disc, key_replay = jax.random.split(key, 4)
        env_state, data = rollout(state, env_state, key_rollout)
        histories = data.extras["state_extras"]["motion_history"]  # [B, T, H, F]
        logit = disc_lib.logits(module, state.disc.params, state.disc.normalizer, histories)
        style = disc_lib.style_reward(logit, amp["loss"])
        task = data.reward
        data = data._replace(reward=amp["task_weight"] * task + amp["style_weight"] * style * env.dt)
        state = state.replace(normalizer=pin_commands(running_statistics.update(state.normalizer, data.observation)))
        state, ppo_metrics = ppo_update(state, data, key_ppo)
        flat = jax.random.permutation(key_replay, histories.reshape((-1,) + histories.shape[2:]))
        state, disc_metrics = disc_update(state, flat, key_disc)
        state = state.replace(replay=state.replay.insert(flat))
        metrics = {**{k: jp.mean(v) for k, v in ppo_metrics.items() if k.endswith("loss")},
                   **jax.tree_util.tree_map(jp.mean, disc_metrics),
                   "style_reward": jp.mean(style), "task_reward": jp.mean(task / env.dt)}
        return state, env_state, metrics

    evaluator = acting.Evaluator(
        make_training_env(env.without_reference_init(), env_settings, ppo["num_eval_envs"], seed + 1),
        functools.partial(make_policy, deterministic=True), num_eval_envs=ppo["num_eval_envs"],
        episode_length=env_settings["episode_length"], action_repeat=1, key=key_eval)

    def evaluate_and_record(state: AMPState, step: int, training: dict) -> None:
        policy = (state.normalizer, state.params.policy, state.params.value)
        evaluation = evaluator.run_evaluation(policy, {})
        columns = {"episode_reward": float(evaluation["eval/episode_reward"]),
                   "episode_length": float(evaluation["eval/avg_episode_length"])}
        columns.update({k.removeprefix("eval/").replace("/", "_"): float(v) for k, v in sorted(evaluation.items())
                        if k.startswith("eval/episode_") and not k.endswith("_std")})
        columns.update({k: float(v) for k, v in sorted(training.items())})
        row = run.record(step, columns)
        log.info("step %d: episode reward %.3f, length %.0f, style reward %.3f, discriminator accuracy "
                 "reference %.2f / policy %.2f", step, row["episode_reward"], row["episode_length"],
                 row.get("style_reward", float("nan")), row.get("disc_reference_accuracy", float("nan")),
                 row.get("disc_policy_accuracy", float("nan")))

    log.info("AMP on %s: %d envs, %d env steps per iteration, discriminator on %d-frame histories of %d features; "
             "%d of %d env steps to go", jax.default_backend(), num_envs, steps_per_iteration, history, feature_size,
             run.remaining, run.total)
    step = run.start_step
    run.will_run(math.ceil(run.remaining / steps_per_iteration) * steps_per_iteration)
    try:
        if run.remaining > 0:
            env_state = jax.jit(train_env.reset)(jax.random.split(key_env, num_envs))
            if run.resumed is None:  # the starting point, evaluated and kept like every later one
                evaluate_and_record(state, step, {})
                run.save_checkpoint(step, _checkpoint(state))
            iterations = math.ceil(run.remaining / steps_per_iteration)
            segment_start, segment_steps = time.perf_counter(), 0
            for i in range(iterations):
                key, key_iteration = jax.random.split(key)
                state, env_state, metrics = iteration(state, env_state, key_iteration)
                step += steps_per_iteration
                segment_steps += steps_per_iteration
                if (i + 1) % iterations_per_checkpoint == 0 or i + 1 == iterations:
                    metrics = jax.device_get(metrics)  # waits for the iterations: training time without evaluation
                    metrics["sps"] = segment_steps / (time.perf_counter() - segment_start)
                    evaluate_and_record(state, step, metrics)
                    run.save_checkpoint(step, _checkpoint(state))
                    segment_start, segment_steps = time.perf_counter(), 0
    finally:
        run.close()
    policy = (state.normalizer, state.params.policy, state.params.value)
    return {"params": jax.device_get(policy), "steps": run.steps_done, "resumed_from": run.start_step,
            "rows": run.rows}

