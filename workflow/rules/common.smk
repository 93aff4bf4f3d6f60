# Shared helpers: config validation (before any job starts), paths of inputs, and the target list.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from locomimic.config import load_yaml, robot_config_path
from locomimic.errors import LocomimicError
from locomimic.preflight import check_run, robot_clips, robot_motions
from locomimic.robots.registry import PACKAGE_MODELS
from locomimic.tasks import algo_task, job_settings, motion_algos, motion_needs_bc, motion_policies

REPO = Path(workflow.basedir)


def _config_layers():
    """(name, contents) of what Snakemake merged into ``config``, in its order: the --configfile files (or
    config/config.yaml without them), then --config values. An error names the layer the bad value came from."""
    layers = [(str(path), load_yaml(path) or {}) for path in workflow.configfiles]
    if workflow.config_settings.config:
        layers.append(("--config", dict(workflow.config_settings.config)))
    return layers


CONFIG_LAYERS = _config_layers()


def _check_config():
    """Check the config (filling in the schema's defaults), the robot files and the input files it
    names before any job starts (locomimic.preflight); a problem stops the run with one line."""
    try:
        check_run(CONFIG_LAYERS, config, REPO)
    except LocomimicError as error:
        raise WorkflowError(f"invalid configuration: {error}") from None


_check_config()

ROBOTS = config["robots"]
# Sorted: the order of a config's clips and motions is not a setting, so reordering them reruns nothing.
CLIPS = sorted(config["clips"])
MOTIONS = sorted(config["motions"])
GAIT_CLIPS = [name for name, spec in config["clips"].items() if spec["source"] == "gait"]
# Each robot takes the clips of its own skeleton (quadrupeds dog clips, humanoids human clips) and the
# motions made of them: one config can hold both.
ROBOT_CLIPS = robot_clips(config, REPO)
ROBOT_MOTIONS = robot_motions(config, ROBOT_CLIPS)


def motions_where(keep):
    """Each robot's motions for which ``keep(config, motion)`` is true (motion_policies, motion_algos ...)."""
    return {robot: [m for m in motions if keep(config, m)] for robot, motions in ROBOT_MOTIONS.items()}


def per_robot(pattern, names, **wildcards):
    """``pattern`` expanded for each robot over its own ``names`` (ROBOT_CLIPS or ROBOT_MOTIONS) as {clip}
    and {motion}."""
    return [path for robot in ROBOTS for name in names[robot]
            for path in expand(pattern, robot=robot, clip=name, motion=name, **wildcards)]


def code_files(*parts):
    """The package code a job runs (subpackages, or modules ending in .py): editing it reruns the job."""
    core = ("__init__.py", "cli.py", "config.py", "errors.py", "io.py", "progress.py", "tasks.py")
    files = [REPO / "src/locomimic" / name for name in core]
    for part in parts:
        path = REPO / "src/locomimic" / part
        files += [path] if part.endswith(".py") else sorted(path.glob("*.py"))
    return [str(f) for f in files]


def clip_file(wildcards):
    """The file a clip is read from: generated gait clips live under results/clips/."""
    spec = config["clips"][wildcards.clip]
    return f"results/clips/{wildcards.clip}.npz" if spec["source"] == "gait" else spec["path"]


def robot_files(wildcards):
    """A robot's YAML plus, when the model ships with the repository, its MJCF files."""
    path = robot_config_path(config, wildcards.robot, root=REPO)  # checked by _check_config
    files = [str(path)]
    model = load_yaml(path)["model"]
    if model.startswith("package:"):
        files += sorted(str(p) for p in (PACKAGE_MODELS / model.removeprefix("package:")).glob("*.xml"))
    elif not model.startswith("menagerie:"):
        files.append(str((path.parent / model).resolve()))
    return files


def motion_clips(wildcards):
    """The retargeted clips a motion is made of, for this robot."""
    return [f"results/retarget/{wildcards.robot}/{clip}.npz" for clip in config["motions"][wildcards.motion]["clips"]]


def demo_expert(wildcards):
    """The expert policy's parameters (``demos.expert``), an input of the demos and bc jobs; none for the
    reference tracker. ppo_scratch bootstraps: its run on the same robot and motion becomes the expert."""
    expert = config["demos"]["expert"]
    if expert == "ppo_scratch":
        seed = config["train"]["seeds"][0]
        return f"results/train/{wildcards.robot}/{wildcards.motion}/ppo_scratch/seed{seed}/policy.params"
    return config["demos"]["policy_path"] if expert == "policy" else []


def expert_arg(wildcards, input):
    """--expert for the demos and bc commands."""
    return f"--expert {input.expert}" if input.expert else ""


def train_init(wildcards):
    """ppo starts from the BC policy of its robot and motion, amp from the locomotion BC policy (see
    locomimic.bc.locomotion for why), ppo_scratch from nothing."""
    bc = f"results/bc/{wildcards.robot}/{wildcards.motion}"
    return {"ppo": f"{bc}/policy.params", "amp": f"{bc}/locomotion/policy.params"}.get(wildcards.algo, [])


def stage_settings(*sections, task="imitation", algo=None):
    """The config sections a job of ``task`` (and ``algo``) reads (locomimic.tasks.job_settings), as JSON
    for its --settings; Snakemake reruns a job when they change, and only then."""
    return as_json(job_settings(config, sections, task, algo))


def algo_settings(*sections):
    """stage_settings for a job whose task follows its ``algo`` or ``policy`` wildcard (train, evaluate)."""

    def settings(wildcards):
        algo = wildcards.get("algo", wildcards.get("policy"))
        return stage_settings(*sections, task=algo_task(algo), algo=algo)

    return settings


def as_json(value):
    """Config sections are handed to the CLI as JSON; sorted keys keep params stable for reruns."""
    return json.dumps(value, sort_keys=True)


# Every policy evaluated on some motion (each motion's are motion_policies), in first-seen order.
EVAL_POLICIES = list(dict.fromkeys(policy for motion in MOTIONS for policy in motion_policies(config, motion)))
SEEDS = config["train"]["seeds"]
RENDER_SEED = SEEDS[0]  # videos show the first training seed of each algo


def policy_params(wildcards):
    """The parameters a policy is evaluated from: BC's, its training run's, or none (the reference tracker)."""
    if wildcards.policy == "reference":
        return []
    if wildcards.policy == "bc":
        return f"results/bc/{wildcards.robot}/{wildcards.motion}/policy.params"
    return f"results/train/{wildcards.robot}/{wildcards.motion}/{wildcards.policy}/seed{wildcards.seed}/policy.params"


def policy_run_summary(wildcards):
    """A training run's summary.json (it names the run's task); baselines have none."""
    if wildcards.policy in ("reference", "bc"):
        return []
    return f"results/train/{wildcards.robot}/{wildcards.motion}/{wildcards.policy}/seed{wildcards.seed}/summary.json"


def policy_args(wildcards, input):
    """--params / --run-summary for the evaluate and render-policy commands."""
    args = [f"--params {input.params}"] if input.params else []
    args += [f"--run-summary {input.run_summary}"] if input.run_summary else []
    return " ".join(args)


def per_motion(pattern, names, **wildcards):
    """``pattern`` expanded over each robot's motions and the seeds, each motion with its own
    ``names(config, motion)`` (motion_algos, motion_policies) as {algo} and {policy}."""
    files = []
    for robot in ROBOTS:
        for motion in ROBOT_MOTIONS[robot]:
            for name in names(config, motion):
                files += expand(pattern, robot=robot, motion=motion, algo=name, policy=name, seed=SEEDS, **wildcards)
    return files


def eval_runs(wildcards=None):
    """Every evaluation run: each motion's policies and baselines, on each robot and training seed."""
    return per_motion("results/eval/{robot}/{motion}/{policy}/seed{seed}/metrics.json", motion_policies)


def sim2sim_runs(wildcards=None):
    """Every training run's exported policy evaluated in plain MuJoCo (rule sim2sim), beside its MJX evaluation."""
    return per_motion("results/sim2sim/{robot}/{motion}/{algo}/seed{seed}/metrics.json", motion_algos)


def export_outputs():
    """Every training run's ONNX policy and runtime spec (rule export)."""
    return per_motion("results/export/{robot}/{motion}/{algo}/seed{seed}/policy.{ext}", motion_algos,
                      ext=["onnx", "json"])


def motion_labels(wildcards):
    """The policies of a motion, in the order of policy_videos."""
    return motion_policies(config, wildcards.motion)


def policy_videos(wildcards):
    return expand("results/render/policy/{robot}/{motion}/{policy}/seed{seed}.mp4", robot=wildcards.robot,
                  motion=wildcards.motion, policy=motion_policies(config, wildcards.motion), seed=RENDER_SEED)


def train_metric_files(wildcards):
    return expand("results/train/{robot}/{motion}/{algo}/seed{seed}/metrics.csv", robot=wildcards.robot,
                  motion=wildcards.motion, algo=motion_algos(config, wildcards.motion), seed=SEEDS)


def report_outputs():
    """Evaluation, videos, plots and report pages (the report's contents)."""
    outputs = ["results/plots/retarget.png"] + expand("results/report/{robot}/retarget_videos.html", robot=ROBOTS)
    evaluated = motions_where(motion_policies)
    if not any(evaluated.values()):
        return outputs
    outputs += ["results/eval/summary.csv", "results/eval/metrics.json", "results/report/evaluation.html"]
    outputs += per_robot("results/plots/{robot}/{motion}/evaluation.png", evaluated)
    outputs += per_robot("results/report/{robot}/{motion}/videos.html", evaluated)
    outputs += per_robot("results/plots/{robot}/{motion}/learning_curves.png", motions_where(motion_algos))
    return outputs


def all_outputs():
    return (
        per_robot("results/retarget/{robot}/{clip}.npz", ROBOT_CLIPS)
        + per_robot("results/bc/{robot}/{motion}/policy.params", motions_where(motion_needs_bc))
        + per_motion("results/train/{robot}/{motion}/{algo}/seed{seed}/summary.json", motion_algos)
        + export_outputs()
        + report_outputs()
    )
