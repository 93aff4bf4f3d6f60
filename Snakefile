# locomimic: motion capture -> retargeted robot motions -> demonstrations -> BC -> RL (PPO, AMP) -> evaluation.
#
#   snakemake --cores all                      run the default run, config/config.yaml
#   snakemake --cores all --configfile my.yaml run exactly my.yaml's robots, clips and motions
#   snakemake --cores all --configfile config/config.yaml config/gpu.yaml   the default run, GPU-sized
#   snakemake -n                               show what would (re)run
from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile stands alone: config/config.yaml is read only without one (Snakemake
# would otherwise merge the user's file over it, adding the default clips and robots to the user's run).
# Settings neither file sets take their defaults from workflow/schemas/config.schema.yaml (common.smk).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


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
include: "workflow/rules/export.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
