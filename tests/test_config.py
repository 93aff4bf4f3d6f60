"""Which config a run uses: a user's --configfile stands alone (config/config.yaml is the default run only,
never merged under it), every other setting comes from the schema's defaults, several files merge in
order, and a bad value is reported with the file it came from. Real Snakemake dry runs (seconds each)."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO, planned_jobs, run_snakemake
from locomimic.config import field_source, load_config, load_yaml

DEFAULT = REPO / "config" / "config.yaml"
GPU = REPO / "config" / "gpu.yaml"

MY_CONFIG = {
    "robots": ["default"],
    "clips": {"my_walk": {"source": "gait", "gait": {"pattern": "trot", "speed": 0.4, "cycles": 1}}},
    "motions": {"my_walk": {"clips": ["my_walk"]}},
}


def write(path, config) -> str:
    path.write_text(yaml.safe_dump(config))
    return path


def errors(done) -> str:
    """The one line a config problem is reported with (a dry run logs it to stdout)."""
    return next(line for line in (done.stdout + done.stderr).splitlines() if "invalid configuration" in line)


def retargeted_clips(dry_run_stdout: str) -> set[str]:
    return set(re.findall(r"results/retarget/default/(\w+)\.npz", dry_run_stdout))


def test_a_users_config_plans_only_its_own_clips_and_motions(tmp_path):
    configfile = write(tmp_path / "my.yaml", MY_CONFIG)
    done = run_snakemake(tmp_path, "-n", configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    assert retargeted_clips(done.stdout) == {"my_walk"}  # none of config/config.yaml's trots
    assert set(re.findall(r"motion=(\w+)", done.stdout)) == {"my_walk"}
    jobs = planned_jobs(tmp_path, configfile)
    assert jobs["gait_clip"] == jobs["retarget"] == jobs["demos"] == 1
    assert jobs["train"] == jobs["export"] == jobs["sim2sim"] == 3  # train.algos from the schema's defaults


def test_without_configfile_the_default_run_is_planned(tmp_path):
    done = run_snakemake(tmp_path, "-n")
    assert done.returncode == 0, done.stderr[-3000:]
    assert retargeted_clips(done.stdout) == {"trot", "trot_slow", "trot_fast"}
    # --config alone still applies on top of the default config.
    jobs = planned_jobs(tmp_path, None, "--config", "evaluate={'baselines': ['bc']}")
    assert jobs["gait_clip"] == 3 and jobs["evaluate"] == 1 + 2 + 1  # bc, ppo, ppo_scratch; amp (no baselines)


def test_configfiles_merge_in_order(tmp_path):
    done = run_snakemake(tmp_path, "-n", "-p", configfile=[DEFAULT, GPU])
    assert done.returncode == 0, done.stderr[-3000:]
    assert retargeted_clips(done.stdout) == set(load_yaml(DEFAULT)["clips"])  # config/config.yaml's clips ...
    assert '"num_envs": 8192' in done.stdout and '"num_envs": 256' not in done.stdout  # ... at gpu.yaml's sizes


def test_schema_defaults_are_the_default_runs_settings():
    """config/config.yaml only names the run: everything else it used to set is now the schema's default."""
    config = load_config(DEFAULT)
    assert config["train"]["num_timesteps"] == 1_500_000 and config["train"]["ppo"]["num_updates_per_batch"] == 2
    assert config["env"]["locomotion"]["command_low"] is None  # the motion's own commands ...
    assert config["env"]["locomotion"]["command_margin"] == [0.2, 0.0, 0.0]  # ... widened by this
    assert config["retarget"]["ik"]["solver"] == "daqp"


@pytest.mark.parametrize("bad_in", ["first", "second"])
def test_a_bad_value_names_the_file_it_came_from(tmp_path, bad_in):
    sizes = {"train": {"ppo": {"num_envs": 64}}}
    if bad_in == "first":
        first = write(tmp_path / "my.yaml", {**MY_CONFIG, "clips": {"my_walk": {"source": "gait",
                                                                               "gait": {"pattern": "walk"}}}})
        second = write(tmp_path / "sizes.yaml", sizes)
    else:
        first = write(tmp_path / "my.yaml", MY_CONFIG)
        second = write(tmp_path / "sizes.yaml", {"train": {"ppo": {"num_envs": 0}}})
    done = run_snakemake(tmp_path, "-n", configfile=[first, second])
    assert done.returncode != 0
    bad, good = (first, second) if bad_in == "first" else (second, first)
    message = errors(done)
    assert message.startswith(f"invalid configuration: {bad}: "), message
    assert str(good) not in message


def test_a_typo_or_a_bad_config_value_names_its_source(tmp_path):
    first = write(tmp_path / "my.yaml", MY_CONFIG)
    second = write(tmp_path / "sizes.yaml", {"trian": {}})
    done = run_snakemake(tmp_path, "-n", configfile=[first, second])
    assert errors(done).startswith(f"invalid configuration: {second}: (top level): "), errors(done)
    assert "'trian' was unexpected" in errors(done)
    done = run_snakemake(tmp_path, "-n", "--config", "seed=-1", configfile=first)
    assert errors(done) == "invalid configuration: --config: seed: -1 is less than the minimum of 0"


def test_field_source_names_the_layer_that_set_a_value():
    layers = [("a.yaml", load_yaml(DEFAULT)), ("b.yaml", load_yaml(GPU)), ("--config", {"seed": 3})]
    assert field_source(layers, ["clips", "trot", "gait", "speed"]) == "a.yaml"
    assert field_source(layers, ["train", "ppo", "num_envs"]) == "b.yaml"
    assert field_source(layers, ["seed"]) == "--config"
    assert field_source(layers, ["robots", 0]) == "a.yaml"  # lists are set whole
    assert field_source(layers, ["train"]) == "a.yaml, b.yaml"  # a mapping both files add to
    assert field_source(layers, ["nosuch"]) == "a.yaml, b.yaml, --config"  # cannot tell


def test_the_dog_mocap_example_plans_its_motions_on_three_quadrupeds(tmp_path, menagerie):
    """config/examples/dog_mocap.yaml, with its clips read from ../shared instead of data/mocap: every
    motion on every robot, bootstrapped (PPO from scratch is the demonstrations' expert)."""
    from conftest import DOG_MOCAP

    if not DOG_MOCAP.is_dir():
        pytest.skip(f"real dog mocap not found under {DOG_MOCAP}")
    config = load_yaml(REPO / "config" / "examples" / "dog_mocap.yaml")
    for clip in config["clips"].values():
        clip["path"] = str(DOG_MOCAP / clip["path"].rsplit("/", 1)[1])
    done = run_snakemake(tmp_path, "-n", configfile=write(tmp_path / "dog.yaml", config))
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = planned_jobs(tmp_path, tmp_path / "dog.yaml")
    robots, motions = len(config["robots"]), len(config["motions"])
    assert jobs["retarget"] == robots * len(config["clips"]) and jobs["demos"] == robots * motions
    assert jobs["train"] == robots * motions * len(config["train"]["algos"])
    assert "ppo_scratch/seed0/policy.params" in re.search(r"rule demos:\n(.*\n){1,3}", done.stdout).group(0)


def test_the_humanoid_example_plans_every_stage_on_the_g1(tmp_path, menagerie):
    """config/examples/humanoid.yaml, with its clips read from ../shared instead of data/mocap: both
    human clips retarget onto the G1 and every motion's stages are planned."""
    from conftest import SHARED

    cmu = SHARED / "mocap" / "cmu_bvh"
    if not cmu.is_dir() or not (menagerie / "unitree_g1").is_dir():
        pytest.skip(f"CMU BVH clips or the G1 not found under {SHARED}")
    config = load_yaml(REPO / "config" / "examples" / "humanoid.yaml")
    for clip in config["clips"].values():
        clip["path"] = str(cmu / clip["path"].rsplit("/", 1)[1])
    jobs = planned_jobs(tmp_path, write(tmp_path / "humanoid.yaml", config))
    assert jobs["retarget"] == len(config["clips"]) and jobs["demos"] == len(config["motions"])
    assert jobs["train"] == sum(len(motion["algos"]) for motion in config["motions"].values())


def job_commands(workdir, configfile) -> dict[str, str]:
    """Each planned job's shell command (which holds all its parameters), keyed by its log file."""
    done = run_snakemake(workdir, "-n", "-p", configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    commands = {}
    for line in done.stdout.splitlines():
        log = re.search(r"> (results/logs/\S+\.log) 2>&1", line)
        if log and "python -m locomimic" in line:
            commands[log.group(1)] = line
    return commands


def changed_jobs(tmp_path, edit) -> tuple[set[str], set[str]]:
    """(jobs of the tiny config whose command changes, jobs added) when ``edit`` changes its config."""
    base = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    before = job_commands(tmp_path / "before", write(tmp_path / "before.yaml", base))
    edit(base)
    after = job_commands(tmp_path / "after", write(tmp_path / "after.yaml", base))
    changed = {log for log in before if log in after and after[log] != before[log]}
    return changed, set(after) - set(before)


# Jobs that gather over seeds or algorithms (tables, plots): adding one of those must rerun them.
GATHERING = re.compile(r"results/logs/(eval_summary|evaluation_table|plot_\w+|policy_videos)\b")


def test_adding_a_seed_reruns_only_that_seeds_jobs(tmp_path):
    changed, added = changed_jobs(tmp_path, lambda config: config["train"].update(seeds=[0, 1]))
    assert all(GATHERING.match(log) for log in changed), changed
    assert added and all("seed1" in log for log in added), added


def test_adding_an_algorithm_reruns_no_other_run(tmp_path):
    changed, added = changed_jobs(tmp_path, lambda config: config["motions"]["trot"].update(algos=["ppo"]))
    assert all(GATHERING.match(log) for log in changed) and not added, (changed, added)  # ppo_scratch dropped


def test_each_motion_trains_its_own_algorithms_and_evaluates_its_own_baselines(tmp_path):
    """A motion's ``algos`` and ``baselines`` replace train.algos and evaluate.baselines for it alone; a
    motion that names neither takes those; BC is trained only where a baseline or PPO needs it."""
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    config["clips"]["pace"] = {"source": "gait", "gait": {"pattern": "pace", "cycles": 1}}
    config["train"]["algos"] = ["ppo_scratch"]
    config["evaluate"]["baselines"] = ["reference"]
    config["motions"] = {"trot": {"clips": ["trot"], "algos": ["ppo", "ppo_scratch"], "baselines": ["bc"]},
                         "speeds": {"clips": ["trot", "pace"], "algos": ["amp"], "baselines": []},
                         "pace": {"clips": ["pace"]}}
    done = run_snakemake(tmp_path, "-n", configfile=write(tmp_path / "motions.yaml", config))
    assert done.returncode == 0, done.stderr[-3000:]
    planned = {line.split("output: ", 1)[1] for line in done.stdout.splitlines() if "output: " in line}
    trained = {re.search(r"results/train/default/(\w+)/(\w+)/seed0/policy.params", line).groups()
               for line in planned if "/policy.params" in line and line.startswith("results/train/")}
    assert trained == {("trot", "ppo"), ("trot", "ppo_scratch"), ("speeds", "amp"), ("pace", "ppo_scratch")}
    evaluated = {tuple(re.search(r"results/eval/default/(\w+)/(\w+)/seed0/metrics.json", line).groups())
                 for line in planned if line.startswith("results/eval/default/")}
    assert evaluated == trained | {("trot", "bc"), ("pace", "reference")}
    assert {line.split(",")[0] for line in planned if line.startswith("results/bc/default/")} == {
        "results/bc/default/trot/policy.params", "results/bc/default/speeds/locomotion/policy.params"}
    config["motions"]["speeds"]["algos"] = ["dqn"]
    done = run_snakemake(tmp_path, "-n", configfile=write(tmp_path / "motions.yaml", config))
    assert "motions.speeds.algos[0]" in errors(done) and "dqn" in errors(done), errors(done)


def test_a_locomotion_setting_touches_only_the_locomotion_jobs(tmp_path):
    changed, added = changed_jobs(tmp_path, lambda config: config["env"].update(locomotion={"tracking_sigma": 0.3}))
    assert not added
    assert changed == {"results/logs/bc/default/trot_speeds.locomotion.log",
                       *(f"results/logs/{rule}/default/trot_speeds/amp/seed0.log"
                         for rule in ("train", "evaluate", "export", "sim2sim"))}, changed
    (tmp_path / "imitation").mkdir()
    changed, _ = changed_jobs(tmp_path / "imitation", lambda config: config["env"].update(imitation={"max_root_error": 0.4}))
    assert not any("amp" in log or "locomotion" in log for log in changed) and changed, changed
    # Each task's BC reads only its own exploration noise.
    (tmp_path / "noise").mkdir()
    changed, _ = changed_jobs(tmp_path / "noise", lambda config: config["bc"].update(initial_std={"locomotion": 0.1}))
    assert "results/logs/bc/default/trot_speeds.locomotion.log" in changed, changed
    assert not any("trot/" in log or log.endswith("trot.log") for log in changed), changed


def test_a_ppo_scratch_setting_touches_only_the_runs_from_scratch(tmp_path):
    """train.ppo_scratch overrides train.ppo for PPO from scratch alone: PPO from BC and AMP keep their jobs."""
    changed, added = changed_jobs(tmp_path, lambda config: config["train"].update(
        ppo_scratch={"initial_std": 0.3, "learning_rate": 0.001}))
    assert not added
    assert changed == {"results/logs/train/default/trot/ppo_scratch/seed0.log"}, changed
