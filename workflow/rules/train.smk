# Stage 4: RL on MJX with brax. ppo starts from the BC weights, ppo_scratch from random ones; amp
# learns the locomotion task with a style reward from a discriminator trained on the motion's clips.
# Checkpoints under .../checkpoints/ are not declared outputs, so Snakemake keeps them when a job
# fails or is killed, and the rerun resumes from the newest one.


rule train:
    """One training run: final policy, metrics per evaluation and a summary."""
    input:
        init=train_init,
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "train", "robots", "jaxcache.py", "policy.py"),
    output:
        params="results/train/{robot}/{motion}/{algo}/seed{seed}/policy.params",
        metrics="results/train/{robot}/{motion}/{algo}/seed{seed}/metrics.csv",
        summary="results/train/{robot}/{motion}/{algo}/seed{seed}/summary.json",
    params:
        settings=algo_settings("env", "policy", "train"),
        robot_file=lambda wildcards, input: input.robot[0],
        init=lambda wildcards, input: f"--init {input.init}" if input.init else "",
    log:
        "results/logs/train/{robot}/{motion}/{algo}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{robot}/{motion}/{algo}/seed{seed}.tsv"
    wildcard_constraints:
        algo="ppo|ppo_scratch|amp",
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=12000,
        runtime=240,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic train --robot {params.robot_file:q} --clips {input.clips:q} --algo {wildcards.algo}"
        " --seed {wildcards.seed} {params.init} --settings {params.settings:q} --out {output.params:q}"
        " --metrics {output.metrics:q} --summary {output.summary:q} > {log:q} 2>&1"
