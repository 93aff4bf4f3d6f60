"""dvc.yaml agrees with the workflow: each DVC stage depends on the Snakefile, the shared rule helpers,
its rules' files and every package file those rules list as code inputs (``code_files(...)``), so an
edit that reruns a Snakemake job also marks its DVC stage stale; and the training-curve plots and
metrics name every training run of the default run. Reads files only (no DVC run: tests/test_dvc.py does that)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from conftest import REPO
from locomimic.config import load_config
from locomimic.tasks import motion_algos

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
RULES_DIR = REPO / "workflow" / "rules"
CORE = re.search(r"core = \(([^)]*)\)", (RULES_DIR / "common.smk").read_text()).group(1)


def rule_code(rule: str) -> tuple[Path, list[str]]:
    """The .smk file defining ``rule`` and the package paths its ``code_files(...)`` input names."""
    for smk in sorted(RULES_DIR.glob("*.smk")):
        text = smk.read_text()
        found = re.search(rf"^rule {rule}:\n(.*?)(?=^rule |\Z)", text, flags=re.S | re.M)
        if found:
            call = re.search(r"code=code_files\(([^)]*)\)", found.group(1))
            parts = re.findall(r'"([^"]+)"', call.group(1)) if call else []
            return smk, parts + re.findall(r'"([^"]+)"', CORE)
    raise AssertionError(f"no rule {rule} in {RULES_DIR}")


def covered(path: str, deps: list[str]) -> bool:
    """Whether a dependency (a file, or a folder above it) covers ``path``."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_each_dvc_stage_depends_on_the_code_of_its_rules():
    for name, stage in DVC["stages"].items():
        deps = stage["deps"]
        rules = stage["cmd"].split("&&")[0].split()[2:]  # python workflow/scripts/dvc_stage.py RULE ...
        assert rules, name
        needed = {"Snakefile", "workflow/rules/common.smk"}
        for rule in rules:
            smk, parts = rule_code(rule)
            needed.add(str(smk.relative_to(REPO)))
            needed.update(f"src/locomimic/{part}" for part in parts)
        missing = sorted(path for path in needed if not covered(path, deps))
        assert not missing, f"dvc.yaml stage {name} lacks deps {missing}"


def test_training_curves_and_metrics_name_every_training_run_of_the_default_run():
    config = load_config(REPO / "config" / "config.yaml")
    runs = {(robot, motion, algo, f"seed{seed}") for robot in config["robots"] for motion in config["motions"]
            for algo in motion_algos(config, motion) for seed in config["train"]["seeds"]}
    for plot in DVC["plots"]:
        (spec,) = plot.values()
        plotted = {Path(path).parts[2:6] for path in spec["y"]}
        assert plotted == runs, (plot, plotted)
    logged = {Path(path).parts[2:6] for path in DVC["metrics"] if path.startswith("results/train/")}
    assert logged == runs, logged
