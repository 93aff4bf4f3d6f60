# Stage 5: every policy (training runs and the baselines bc and reference) on the same seeded episodes,
# then the mean and 95% confidence interval over seeds.


rule evaluate:
    """One policy on one robot, motion and seed: metrics per episode, their mean and CI, and the first
    episode's poses (the video shows it)."""
    input:
        params=policy_params,
        run_summary=policy_run_summary,
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "evaluate", "robots", "jaxcache.py", "policy.py"),
    output:
        metrics="results/eval/{robot}/{motion}/{policy}/seed{seed}/metrics.json",
        episodes="results/eval/{robot}/{motion}/{policy}/seed{seed}/episodes.csv",
        trajectory="results/eval/{robot}/{motion}/{policy}/seed{seed}/trajectory.npz",
    params:
        settings=algo_settings("env", "policy", "evaluate"),
        robot_file=lambda wildcards, input: input.robot[0],
        policy=policy_args,
    log:
        "results/logs/evaluate/{robot}/{motion}/{policy}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{robot}/{motion}/{policy}/seed{seed}.tsv"
    wildcard_constraints:
        policy="|".join(EVAL_POLICIES) or "^$",
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic evaluate --robot {params.robot_file:q} --clips {input.clips:q} --motion {wildcards.motion}"
        " --policy {wildcards.policy} --seed {wildcards.seed} {params.policy} --settings {params.settings:q}"
        " --out {output.metrics:q} --episodes {output.episodes:q} --trajectory {output.trajectory:q} > {log:q} 2>&1"


rule eval_summary:
    """Mean and 95% CI over seeds of every evaluation run (MJX, and plain MuJoCo for exported policies): a
    table and a JSON document."""
    input:
        runs=eval_runs,
        sim2sim=sim2sim_runs,
        code=code_files("evaluate"),
    output:
        csv=report(
            "results/eval/summary.csv",
            caption="../report/eval_summary.rst",
            category="3. Evaluation",
            subcategory="tables",
        ),
        json="results/eval/metrics.json",
    log:
        "results/logs/eval_summary.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic eval-summary --runs {input.runs:q} {input.sim2sim:q} --csv {output.csv:q} --json {output.json:q} > {log:q} 2>&1"
