"""Run one DVC stage (dvc.yaml) as Snakemake jobs of the named rules only.

    python workflow/scripts/dvc_stage.py RULE [RULE ...] [-- SNAKEMAKE_OPTION ...]

DVC decides which stages are out of date and removes their outputs before running them; this script then
asks Snakemake for every output of RULE(s) in the current configuration (`snakemake --summary`, which maps
each planned file to its rule) and builds exactly those, with `--allowed-rules RULE ...`: files made by other
rules (upstream stages) are taken as they are and never rebuilt here, so one stage's command cannot rewrite
another stage's outputs behind DVC's back (after `dvc pull` or `dvc checkout` their file times are arbitrary,
which would otherwise make Snakemake rebuild them). The configuration is config/config.yaml (the file dvc.yaml
tracks as params). Options for the building call come from $LOCOMIMIC_SNAKEMAKE_ARGS and after `--`, for
example `LOCOMIMIC_SNAKEMAKE_ARGS="--profile profiles/slurm" dvc repro` to run the jobs on SLURM.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys


def snakemake() -> list[str]:
    """Snakemake from the same environment as this interpreter."""
    return [sys.executable, "-m", "snakemake"]


def stage_targets(rules: set[str]) -> list[str]:
    """Every file the current configuration plans for the given rules, in Snakemake's order."""
    done = subprocess.run([*snakemake(), "--summary", "--cores", "1"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"dvc_stage: `snakemake --summary` failed:\n{done.stderr[-4000:]}")
    lines = done.stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    except StopIteration:
        sys.exit(f"dvc_stage: no summary table in the output of `snakemake --summary`:\n{done.stdout[-2000:]}")
    header = lines[start].split("\t")
    file_col, rule_col = header.index("output_file"), header.index("rule")
    targets = []
    for line in lines[start + 1 :]:
        fields = line.split("\t")
        if len(fields) == len(header) and fields[rule_col] in rules:
            targets.append(fields[file_col])
    return targets


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        rules, options = argv[:split], argv[split + 1 :]
    else:
        rules, options = argv, []
    options = shlex.split(os.environ.get("LOCOMIMIC_SNAKEMAKE_ARGS", "")) + options
    if not rules or any(rule.startswith("-") for rule in rules):
        sys.exit(__doc__)
    targets = stage_targets(set(rules))
    if not targets:
        print(f"dvc_stage: the configuration plans no outputs for rule(s) {', '.join(rules)}; nothing to do")
        return 0
    command = [*snakemake(), "--cores", "all", "--allowed-rules", *rules, *options, "--", *targets]
    print(f"dvc_stage: snakemake --allowed-rules {' '.join(rules)} {shlex.join(options)} -- ({len(targets)} files)",
          flush=True)
    return subprocess.run(command, env=os.environ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
