# locomimic: motion capture -> retargeted robot motions -> demonstrations -> BC -> (later) RL, evaluation.
#
#   snakemake --cores all                      run everything for config/config.yaml
#   snakemake --cores all --configfile X.yaml  run another config
#   snakemake -n                               show what would (re)run
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    robot="|".join(ROBOTS),
    clip="|".join(CLIPS),
    motion="|".join(MOTIONS) or "^$",


include: "workflow/rules/retarget.smk"
include: "workflow/rules/demos.smk"
include: "workflow/rules/bc.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
