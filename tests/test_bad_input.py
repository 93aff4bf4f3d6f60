"""Bad input ends with one clear message naming the file and line or field, and leaves no output."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, keypoint_text, run_locomimic, run_snakemake
from locomimic.errors import LocomimicError

ROBOT = REPO / "config" / "robots" / "default.yaml"


def set_field(rows: list[str], row: int, column: int, value: str) -> list[str]:
    """Replace one number (0-based row and column) in keypoint text rows."""
    fields = rows[row].split(",\t")
    fields[column] = value
    return rows[:row] + [",\t".join(fields)] + rows[row + 1:]


def retarget(tmp_path, clip_path, robot=ROBOT):
    out, metrics = tmp_path / "out" / "motion.npz", tmp_path / "out" / "motion.json"
    done = run_locomimic("retarget", "--name", "clip", "--clip", str(clip_path),
                         "--clip-spec", json.dumps({"source": "ai4animation"}), "--robot", str(robot),
                         "--settings", "{}", "--out", str(out), "--metrics", str(metrics))
    leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    return done, leftovers


def test_good_keypoint_text_retargets(tmp_path):
    path = tmp_path / "clip.txt"
    path.write_text("\n".join(keypoint_text()) + "\n")
    done, outputs = retarget(tmp_path, path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in outputs) == ["motion.json", "motion.npz"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda rows: rows[:2] + [rows[2].rsplit(",", 3)[0]] + rows[3:], "line 3: expected 81 numbers (27 keypoints x (x, y, z)), got 78"),
        (lambda rows: set_field(rows, 1, 4, "nan"), "line 2, column 5: non-finite value 'nan'"),
        (lambda rows: set_field(rows, 3, 2, "abc"), "line 4, column 3: 'abc' is not a number"),
        (lambda rows: [], "the file has no frames"),
    ],
    ids=["wrong-column-count", "nan", "non-numeric", "no-frames"],
)
def test_bad_clip_file(tmp_path, corrupt, message):
    path = tmp_path / "clip.txt"
    path.write_text("\n".join(corrupt(keypoint_text())) + "\n")
    done, outputs = retarget(tmp_path, path)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert "Traceback" not in done.stderr
    assert outputs == []  # nothing half-written


def test_keypoint_map_naming_a_missing_body(tmp_path):
    clip = tmp_path / "clip.txt"
    clip.write_text("\n".join(keypoint_text()) + "\n")
    robot = tmp_path / "robot.yaml"
    robot.write_text(ROBOT.read_text().replace("FL_hip: {body: FL_hip}", "FL_hip: {body: FL_shoulder}"))
    done, outputs = retarget(tmp_path, clip, robot)
    assert done.returncode == 2 and outputs == []
    assert f"error: {robot}: keypoints.FL_hip.body: the model has no body 'FL_shoulder'" in done.stderr


def write_config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("robots: [nosuch]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\n",
         "robots[0]: unknown robot 'nosuch'"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot, speed: -1}}\n",
         "clips.trot.gait.speed: -1 is less than or equal to the minimum of 0"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot, cycles: four}}\n",
         "clips.trot.gait.cycles: 'four' is not of type 'integer'"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: gallop}}\n",
         "clips.trot.gait.pattern: 'gallop' is not one of ['trot', 'pace', 'bound']"),
        ("robots: [default]\nclips:\n  dog: {source: ai4animation}\n", "clips.dog: 'path' is a required property"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\nretarget: {ik: {max_iterations: 0}}\n",
         "retarget.ik.max_iterations: 0 is less than the minimum of 1"),
        ("robots: [default]\nclipz: {}\n", "Additional properties are not allowed ('clipz' was unexpected)"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\nbc: {initial_std: 0.1}\n",
         "bc.initial_std: 0.1 is not of type 'object'; expected a mapping with keys imitation, locomotion"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\nmotions:\n  walk: {clips: [trot, walk]}\n",
         "motions.walk.clips[1]: unknown clip 'walk'; clips: trot"),
        ("robots: [default]\nclips: {}\n", "clips: {} should be non-empty"),
        ("robots: [default]\nclips:\n  dog: {source: ai4animation, path: nosuch.txt}\n",
         "clips.dog.path: clip 'dog': no such file nosuch.txt"),
        ("robots: [default]\nclips:\n  dog: {source: ai4animation, path: .}\n",
         "clips.dog.path: clip 'dog': . is a directory; expected a file"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\ntrain: {ppo: {num_envs: 100}}\n",
         "train.ppo.batch_size: batch_size * num_minibatches (256 * 8 = 2048) must be a multiple of num_envs (100)"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\n"
         "env: {locomotion: {command_low: [0.9, 0, 0], command_high: [0.8, 0, 0]}}\n",
         "env.locomotion.command_low[0]: 0.9 is above command_high[0] = 0.8"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\n"
         "env: {locomotion: {command_high: [0.8, 0, 0]}}\n",
         "env.locomotion.command_high: is set but command_low is not"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\n"
         "demos: {expert: policy, policy_path: nosuch.params}\n",
         "demos.policy_path: the demonstrations' expert policy: no such file nosuch.params"),
    ],
    ids=["unknown-robot", "negative-speed", "wrong-type", "bad-enum", "missing-path", "out-of-range", "typo", "scalar-for-mapping",
         "motion-unknown-clip", "no-clips", "clip-file-missing", "clip-path-directory", "ppo-batch",
         "command-range", "command-half-range", "expert-file-missing"],
)
def test_bad_config_stops_the_workflow_before_any_job(tmp_path, config, message):
    """The workflow and ``check-config`` reject the same configs with the same line (locomimic.preflight)."""
    path = write_config(tmp_path, config)
    done = run_snakemake(tmp_path, configfile=path)
    assert done.returncode != 0
    assert f"invalid configuration: {path}: " in done.stderr and message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "results").exists()
    checked = run_locomimic("check-config", str(path), cwd=tmp_path)
    assert checked.returncode == 2 and message in checked.stderr, checked.stderr


def test_a_robot_file_naming_a_missing_body_stops_the_workflow_before_any_job(tmp_path):
    robots = tmp_path / "robots"
    robots.mkdir()
    robot = robots / "mine.yaml"
    robot.write_text(ROBOT.read_text().replace("FL_hip: {body: FL_hip}", "FL_hip: {body: FL_shoulder}")
                     .replace("package:default", f"{REPO}/src/locomimic/robots/models/default/scene.xml"))
    path = write_config(tmp_path, f"robots: [mine]\nrobots_dir: {robots}\n"
                                  "clips:\n  trot: {source: gait, gait: {pattern: trot}}\n")
    done = run_snakemake(tmp_path, "-n", configfile=path)
    message = f"{robot}: keypoints.FL_hip.body: the model has no body 'FL_shoulder'; its bodies are: world, trunk"
    assert done.returncode != 0 and message in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
    checked = run_locomimic("check-config", str(path))
    assert checked.returncode == 2 and message in checked.stderr


def shifted(rows: list[str], axis: int, offset: float = 0.0, sign: float = 1.0, first: int = 0) -> list[str]:
    """Keypoint text rows with coordinate ``axis`` (0 x, 1 y up, 2 z) of every keypoint from row ``first``
    on multiplied by ``sign`` and moved by ``offset``."""
    out = []
    for index, row in enumerate(rows):
        values = np.array([float(v) for v in row.split(",\t")]).reshape(27, 3)
        if index >= first:
            values[:, axis] = sign * values[:, axis] + offset
        out.append(",\t".join(f"{v:.5f}" for v in values.reshape(-1)))
    return out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda: bytes(range(256)) * 8, "line 1, column 1: not a text file"),
        (lambda: "\n".join(shifted(keypoint_text(), 0, offset=10.0, first=3)).encode(),
         "frames 2-3 (t = 0.033-0.050 s): the source's trunk (scaled to the robot) moves at"),
        (lambda: "\n".join(shifted(keypoint_text(), 1, sign=-1.0)).encode(), "is at height"),
        (lambda: "\n".join(keypoint_text()[:2] + [",\t".join(["1e9"] * 81)] + keypoint_text()[3:]).encode(),
         "frame 2 (t = 0.033 s): the trunk keypoints"),
    ],
    ids=["binary", "teleport", "mirrored", "row-of-1e9"],
)
def test_a_failed_job_shows_its_one_line_error_in_the_terminal(tmp_path, content, message):
    """The workflow profile (profiles/default) shows a failed job's log where snakemake runs, so the
    package's one-line error is on the terminal, not only in results/logs/; the quality gate stops a
    clip that would retarget into nonsense, and nothing is written."""
    clip = tmp_path / "clip.txt"
    clip.write_bytes(content())
    path = write_config(tmp_path, f"robots: [default]\nclips:\n  dog: {{source: ai4animation, path: {clip}}}\n"
                                  "motions:\n  dog: {clips: [dog]}\n")
    done = run_snakemake(tmp_path, "results/retarget/default/dog.npz", configfile=path)
    terminal = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Using workflow specific profile" in terminal
    assert f"error: {clip}: " in terminal and message in terminal, terminal[-3000:]
    assert "Traceback" not in terminal
    assert not list((tmp_path / "results" / "retarget").glob("**/*.*"))


def test_outputs_follow_the_umask(tmp_path):
    from locomimic.io import save_csv, save_json, save_npz

    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        previous = os.umask(umask)
        try:
            save_json(tmp_path / f"{umask:o}.json", {"a": 1})
            save_npz(tmp_path / f"{umask:o}.npz", {"a": np.zeros(2)})
            save_csv(tmp_path / f"{umask:o}.csv", [{"a": 1}])
        finally:
            os.umask(previous)
        for suffix in ("json", "npz", "csv"):
            assert stat.S_IMODE((tmp_path / f"{umask:o}.{suffix}").stat().st_mode) == mode


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """A file-size limit makes the write fail as a full disk would (EFBIG instead of ENOSPC)."""
    out = tmp_path / "out" / "trot.npz"

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run([sys.executable, "-m", "locomimic", "gait", "--name", "trot", "--params",
                           json.dumps({"pattern": "trot"}), "--out", str(out)],
                          capture_output=True, text=True, preexec_fn=small_files)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: {out}: cannot write the file: File too large"
    assert list(out.parent.iterdir()) == []


def brax_params(diverged: bool = False):
    """Freshly initialised brax PPO parameters for 8 observations and 4 actions; ``diverged`` puts one
    NaN weight in, as a diverged run would leave them."""
    import jax
    from brax.training.acme import running_statistics, specs

    from locomimic.policy import make_networks

    networks = make_networks(8, 4, {"policy_hidden_layers": [16], "value_hidden_layers": [16]})
    key = jax.random.PRNGKey(0)
    normalizer = running_statistics.init_state(specs.Array((8,), np.dtype("float32")))
    policy = networks.policy_network.init(key)
    value = networks.value_network.init(key)
    if diverged:
        policy["params"]["hidden_0"]["kernel"] = policy["params"]["hidden_0"]["kernel"].at[0, 0].set(np.nan)
    return normalizer, policy, value


def test_evaluate_refuses_non_finite_parameters(tmp_path, trot_clip):
    from locomimic.policy import load_policy_params, save_policy_params

    params = tmp_path / "policy.params"
    save_policy_params(params, brax_params(diverged=True))
    with pytest.raises(LocomimicError, match="non-finite"):
        load_policy_params(params)
    out = tmp_path / "eval" / "metrics.json"
    done = run_locomimic("evaluate", "--robot", str(ROBOT), "--clips", str(trot_clip), "--motion", "trot",
                         "--policy", "ppo", "--seed", "0", "--params", str(params), "--settings", "{}",
                         "--out", str(out), "--episodes", str(tmp_path / "eval" / "episodes.csv"),
                         "--trajectory", str(tmp_path / "eval" / "trajectory.npz"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {params}: holds non-finite (NaN or inf) parameters")
    assert not (tmp_path / "eval").exists() or list((tmp_path / "eval").iterdir()) == []


def test_an_expert_policy_made_for_another_env_is_refused(tmp_path, trot_clip):
    from locomimic.policy import save_policy_params

    expert = tmp_path / "expert.params"
    save_policy_params(expert, brax_params())
    out = tmp_path / "demos" / "demos.npz"
    done = run_locomimic("demos", "--robot", str(ROBOT), "--clips", str(trot_clip), "--expert", str(expert),
                         "--settings", json.dumps({"demos": {"expert": "policy", "policy_path": str(expert)}}),
                         "--out", str(out), "--summary", str(tmp_path / "demos" / "summary.json"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {expert}: made for observations of size 8 and 4 actions")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_a_truncated_retargeted_clip_is_one_line(tmp_path, trot_clip):
    clip = tmp_path / "trot.npz"
    clip.write_bytes(trot_clip.read_bytes()[:-100])  # a copy cut short
    out = tmp_path / "eval" / "metrics.json"
    done = run_locomimic("evaluate", "--robot", str(ROBOT), "--clips", str(clip), "--motion", "trot",
                         "--policy", "reference", "--seed", "0", "--settings", "{}", "--out", str(out),
                         "--episodes", str(tmp_path / "eval" / "episodes.csv"),
                         "--trajectory", str(tmp_path / "eval" / "trajectory.npz"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {clip}: not a readable retargeted clip")
    assert not (tmp_path / "eval").exists() or list((tmp_path / "eval").iterdir()) == []


# Bad files met by later stages, through the real workflow. One tiny upstream run (a retargeted trot and
# a PPO-from-scratch run checkpointed at 0, 640 and 1280 env steps) is made once per module; each case
# copies its results/, plants its bad file where the workflow reads it and runs just the one job that
# reads it (--allowed-rules keeps Snakemake from redoing the upstream jobs, whatever their mtimes).

RUN = "results/train/default/trot/ppo_scratch/seed0"  # the training run's folder
CLIP = "results/retarget/default/trot.npz"
TRAIN_LOG = "results/logs/train/default/trot/ppo_scratch/seed0.log"
TRAIN_OUTPUTS = [f"{RUN}/policy.params", f"{RUN}/metrics.csv", f"{RUN}/summary.json"]
EVAL = "results/eval/default/trot/ppo_scratch/seed0"
DEMOS = ["results/demos/default/trot.npz", "results/demos/default/trot.json"]


@pytest.fixture(scope="module")
def upstream(tiny_run):
    """(workdir, config) of the session's tiny workflow run (conftest ``tiny_run``), whose ppo_scratch run
    the cases below damage, in copies of its results."""
    assert [p.name for p in checkpoint_dirs(tiny_run.workdir)] == [f"{step:012d}" for step in (0, 640, 1280)]
    return tiny_run.workdir, tiny_run.config


def checkpoint_dirs(workdir):
    return sorted((workdir / RUN / "checkpoints").glob("[0-9]" * 12))


def truncate_newest_checkpoint(workdir):
    """Cut the newest checkpoint's largest data file in half, as a killed copy or a full disk leaves it."""
    data = max((checkpoint_dirs(workdir)[-1] / "ocdbt.process_0" / "d").iterdir(), key=lambda f: f.stat().st_size)
    os.truncate(data, data.stat().st_size // 2)


def garble_every_checkpoint(workdir):
    for path in checkpoint_dirs(workdir):
        (path / "_METADATA").write_bytes(bytes(range(128, 256)))  # not UTF-8


def plant_nan_policy(workdir):
    """The training run's own policy with one weight NaN, as a diverged run would have left it."""
    import jax

    from locomimic.policy import load_policy_params, save_policy_params

    path = workdir / RUN / "policy.params"
    normalizer, policy, value = load_policy_params(path)
    leaves, tree = jax.tree_util.tree_flatten(policy)
    leaves[0] = np.array(leaves[0])
    leaves[0].flat[0] = np.nan
    save_policy_params(path, (normalizer, jax.tree_util.tree_unflatten(tree, leaves), value))


def truncate_clip(workdir):
    clip = workdir / CLIP
    clip.write_bytes(clip.read_bytes()[:-100])


def plant_expert_for_another_env(workdir):
    from locomimic.policy import save_policy_params

    save_policy_params(workdir / "expert.params", brax_params())  # 8 observations, 4 actions


@contextlib.contextmanager
def files_up_to(size: int):
    """Writes past ``size`` bytes fail as on a full disk (EFBIG instead of ENOSPC) in the processes started
    meanwhile (Python ignores SIGXFSZ, so the write fails instead of killing the job)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def fill_the_disk(workdir):
    """128 KiB: Snakemake's own files and the job's log stay well below it, policy.params (~800 KiB) does not."""
    return files_up_to(128 * 1024)


TRAIN_AGAIN = (f"{RUN}/summary.json", "--forcerun", "train", "--allowed-rules", "train")
# Each case: (plant the bad input, returning a context to run snakemake in if it needs one; config changes;
# snakemake's arguments; the file the error names; the error; the outputs it leaves absent). A warning
# case names no file: the job succeeds and its log has the lines given (Snakemake shows only failed jobs'
# logs, so these are not on the terminal).
DOWNSTREAM_CASES = [
    pytest.param(plant_nan_policy, {}, (f"{EVAL}/metrics.json", "--allowed-rules", "evaluate"), f"{RUN}/policy.params",
                 "holds non-finite (NaN or inf) parameters: the run that wrote them diverged",
                 [f"{EVAL}/metrics.json", f"{EVAL}/episodes.csv", f"{EVAL}/trajectory.npz"], id="nan-policy-evaluate"),
    pytest.param(truncate_clip, {}, (DEMOS[0], "--allowed-rules", "demos"), CLIP, "not a readable retargeted clip",
                 DEMOS, id="truncated-clip-demos"),
    pytest.param(plant_expert_for_another_env, {"demos": {"expert": "policy", "policy_path": "expert.params"}},
                 (DEMOS[0], "--allowed-rules", "demos"), "expert.params",
                 "made for observations of size 8 and 4 actions, but the environment has 98 and 12", DEMOS,
                 id="wrong-size-expert-demos"),
    # The quality gate of demos.max_failure_rate: a root error allowance of 1 mm fails every tracker episode.
    pytest.param(lambda workdir: None, {"env": {"imitation": {"max_root_error": 0.001}}},
                 (DEMOS[0], "--forcerun", "demos", "--allowed-rules", "demos"), CLIP,
                 "more than demos.max_failure_rate 50%: BC would clone an expert that cannot follow this motion",
                 DEMOS, id="failing-expert-demos"),
    pytest.param(fill_the_disk, {}, TRAIN_AGAIN, f"{RUN}/policy.params", "cannot write the file: File too large",
                 TRAIN_OUTPUTS, id="full-disk-train"),
    # The run asks for 640 steps now: the checkpoint at 640 ends it once the damaged newest one is set aside.
    pytest.param(truncate_newest_checkpoint, {"train": {"num_timesteps": 640}}, TRAIN_AGAIN, None,
                 (f"WARNING damaged checkpoint {RUN}/checkpoints/000000001280: ValueError: OUT_OF_RANGE",
                  f"INFO resuming from checkpoint {RUN}/checkpoints/000000000640 (step 640)"), [],
                 id="damaged-newest-checkpoint-resumes"),
    # With no good checkpoint left the run starts over (and trains 640 steps): a warning, not an error.
    pytest.param(garble_every_checkpoint, {"train": {"num_timesteps": 640}}, TRAIN_AGAIN, None,
                 tuple(f"WARNING damaged checkpoint {RUN}/checkpoints/{step:012d}: UnicodeDecodeError"
                       for step in (1280, 640, 0))
                 + (f"WARNING no checkpoint in {RUN}/checkpoints could be loaded: training starts over from step 0",),
                 [], id="every-checkpoint-damaged-starts-over"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("plant", "changes", "args", "source", "message", "absent"), DOWNSTREAM_CASES)
def test_bad_files_met_by_later_jobs_through_the_workflow(upstream, tmp_path, plant, changes, args, source, message,
                                                           absent):
    """A later stage's one-line error (the file, what was expected) reaches the terminal where snakemake
    runs, and nothing is left of the job's outputs; damaged checkpoints only warn, in the job's log."""
    import yaml

    workdir, config = upstream
    shutil.copytree(workdir / "results", tmp_path / "results")  # keeps the mtimes: nothing upstream is outdated
    config = {**config, **{section: {**config.get(section, {}), **values} for section, values in changes.items()}}
    configfile = write_config(tmp_path, yaml.safe_dump(config))
    with plant(tmp_path) or contextlib.nullcontext():
        done = run_snakemake(tmp_path, *args, configfile=configfile)
    terminal = done.stdout + done.stderr
    assert "Using workflow specific profile" in terminal
    if source is None:  # warnings: the job runs to the end
        assert done.returncode == 0, terminal[-3000:]
        log = (tmp_path / TRAIN_LOG).read_text()
        for line in message:
            assert line in log, log[-3000:]
        assert json.loads((tmp_path / RUN / "summary.json").read_text())["steps"] == 640
        return
    assert done.returncode != 0
    lines = [line.strip() for line in terminal.splitlines() if line.strip().startswith(f"error: {source}: ")]
    assert lines and message in lines[-1], terminal[-3000:]
    assert "Traceback" not in terminal
    for output in absent:
        assert not (tmp_path / output).exists(), output
        assert not list((tmp_path / output).parent.glob(".*.tmp")), output  # no temporary file left behind
