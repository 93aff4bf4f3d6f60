"""``python -m locomimic <stage>``: the thin command line the Snakemake rules call.

Each subcommand reads its inputs, runs one stage's pure functions and writes its outputs atomically.
Input problems end with one ``error:`` line (file, line or field, what was expected) and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from locomimic.errors import LocomimicError

log = logging.getLogger("locomimic")


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def cmd_gait(args) -> None:
    """Generate a parametric gait clip (keypoint .npz)."""
    from locomimic.motion import gait, npz_clip

    clip = gait.generate(**args.params, name=args.name)
    npz_clip.write(args.out, clip)
    log.info("wrote %s: %d frames at %.0f fps (%s)", args.out, clip.num_frames, clip.fps, clip.source)


def cmd_retarget(args) -> None:
    """Retarget one clip onto one robot; write the trajectory .npz and the quality-metrics JSON."""
    from locomimic.config import validate
    from locomimic.io import save_json, save_npz
    from locomimic.motion import load_clip
    from locomimic.retarget import retarget_clip
    from locomimic.robots import load_robot

    # Validate (and complete with defaults) the pieces of config this stage was given.
    spec = {"path": str(args.clip), **args.clip_spec}
    config = validate({"robots": [args.robot.stem], "clips": {args.name: spec}, "retarget": args.settings},
                      "config.schema.yaml", "--clip-spec/--settings")
    robot = load_robot(args.robot)
    clip = load_clip(config["clips"][args.name], args.clip, args.name)
    log.info("retargeting %s (%d frames at %.0f fps) onto %s", args.clip, clip.num_frames, clip.fps, robot.name)
    result = retarget_clip(clip, robot, config["retarget"], spec.get("scale", "auto"))
    save_npz(args.out, result.arrays)
    save_json(args.metrics, {"clip": args.name, **result.metrics})
    m = result.metrics
    log.info("foot error mean %.1f mm (max %.1f), penetration max %.1f mm, joint-limit violations %d, "
             "foot slide robot %.1f mm vs source %.1f mm, %.0f frames/s",
             1e3 * m["foot_error_mean"], 1e3 * m["foot_error_max"], 1e3 * m["penetration_max"],
             m["joint_limit_violations"], 1e3 * m["foot_slide_robot_mean"], 1e3 * m["foot_slide_source_mean"],
             m["solver_frames_per_second"])


def cmd_check_config(args) -> None:
    """Validate a workflow config and every robot file it names, without running anything."""
    from locomimic.config import load_config, robot_config_path
    from locomimic.robots import load_robot

    config = load_config(args.config)
    for name in config["robots"]:
        load_robot(robot_config_path(config, name, args.config))
    print(f"{args.config}: OK ({len(config['robots'])} robots, {len(config['clips'])} clips)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m locomimic", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = parser.add_subparsers(dest="stage", required=True, metavar="stage", title="stages")

    p = stages.add_parser("gait", help="generate a parametric quadruped gait clip (trot, pace, bound)")
    p.add_argument("--name", required=True, help="clip name (recorded in the clip)")
    p.add_argument("--params", type=_json_arg, required=True, help="the clip's 'gait' config section as JSON")
    p.add_argument("--out", type=Path, required=True, help="output keypoint clip (.npz)")
    p.set_defaults(run=cmd_gait)

    p = stages.add_parser("retarget", help="retarget a keypoint clip onto a robot with mink IK")
    p.add_argument("--name", required=True, help="clip name")
    p.add_argument("--clip", type=Path, required=True, help="clip file (keypoint text, BVH or .npz)")
    p.add_argument("--clip-spec", type=_json_arg, required=True, help="the clip's config entry as JSON")
    p.add_argument("--robot", type=Path, required=True, help="robot file config/robots/<name>.yaml")
    p.add_argument("--settings", type=_json_arg, required=True, help="the config's 'retarget' section as JSON")
    p.add_argument("--out", type=Path, required=True, help="output trajectory (.npz)")
    p.add_argument("--metrics", type=Path, required=True, help="output quality metrics (.json)")
    p.set_defaults(run=cmd_retarget)

    p = stages.add_parser("check-config", help="validate a workflow config and the robots it names")
    p.add_argument("config", type=Path)
    p.set_defaults(run=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        args.run(args)
    except LocomimicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
