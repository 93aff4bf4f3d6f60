"""The two tasks, which algorithm trains on which, which policies each motion has, and which settings a
job of a task reads.

Why a module of its own (no JAX, no MuJoCo): the workflow imports it while Snakemake parses the
Snakefile, to hand each job exactly the settings it uses. Snakemake reruns a job whose parameters
changed, so a job handed settings it never reads would rerun for nothing: every train job when a
seed or an algorithm is added, the imitation runs when a locomotion-only setting changes.
"""

from __future__ import annotations

TASKS = ("imitation", "locomotion")
TASK_OF_ALGO = {"ppo": "imitation", "ppo_scratch": "imitation", "amp": "locomotion"}

# Settings that decide which jobs exist (the workflow reads them), not how one job runs.
_WORKFLOW_ONLY = {"train": ("algos", "seeds"), "evaluate": ("baselines",)}


def algo_task(algo: str) -> str:
    """The environment an algorithm trains (and is evaluated) on: AMP follows velocity commands;
    every other policy (PPO, BC, the reference tracker) imitates the motion."""
    return TASK_OF_ALGO.get(algo, "imitation")


def motion_algos(config: dict, motion: str) -> list[str]:
    """The training algorithms run on ``motion``: its own ``algos`` when it names them, else ``train.algos``.

    Why per motion: what suits one clip does not suit a library. PPO imitates one clip well in the default
    run's budget; AMP follows commands only across the speeds its motion prior holds (several clips). The
    default run trains each on the motion it suits, without paying for every algorithm on both."""
    return list(config["motions"][motion].get("algos", config["train"]["algos"]))


def motion_baselines(config: dict, motion: str) -> list[str]:
    """The baselines evaluated on ``motion``: its own ``baselines`` when it names them, else
    ``evaluate.baselines``."""
    return list(config["motions"][motion].get("baselines", config["evaluate"]["baselines"]))


def motion_policies(config: dict, motion: str) -> list[str]:
    """Every policy evaluated on ``motion``: its baselines, then its training algorithms."""
    return motion_baselines(config, motion) + motion_algos(config, motion)


def motion_needs_bc(config: dict, motion: str) -> bool:
    """Whether ``motion`` needs its (imitation) BC policy: as a baseline, or as PPO's initial weights."""
    return "bc" in motion_baselines(config, motion) or "ppo" in motion_algos(config, motion)


def job_settings(config: dict, sections: tuple[str, ...], task: str = "imitation", algo: str | None = None) -> dict:
    """The ``sections`` of ``config`` a job of ``task`` reads: ``env`` without the other task's
    settings, ``train`` without the AMP settings for an imitation run and without ``ppo_scratch`` for
    any other ``algo`` than PPO from scratch, ``bc.initial_std`` of its own task only, and none of the
    settings that only decide which jobs exist."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    settings = {}
    for name in sections:
        section = config[name]
        if isinstance(section, dict):
            dropped = set(_WORKFLOW_ONLY.get(name, ()))
            if name == "env":
                dropped.add("locomotion" if task == "imitation" else "imitation")
            if name == "train" and task == "imitation":
                dropped.add("amp")
            if name == "train" and algo != "ppo_scratch":
                dropped.add("ppo_scratch")
            section = {key: value for key, value in section.items() if key not in dropped}
            if name == "bc" and isinstance(section.get("initial_std"), dict):  # each task's BC its own noise
                section["initial_std"] = {task: section["initial_std"][task]}
        settings[name] = section
    return settings
