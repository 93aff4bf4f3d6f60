# Stage 5b: each training run's policy for use outside the project (an ONNX graph with the observation
# normaliser baked in, and the runtime spec a robot needs beside it), then that export evaluated in plain
# MuJoCo (C mj_step, not MJX) on the evaluation's seeded episodes: the sim-to-sim gap in the eval table.


rule export:
    """A training run's policy as ONNX and its runtime spec (observation layout, joints, PD gains, timing)."""
    input:
        params="results/train/{robot}/{motion}/{algo}/seed{seed}/policy.params",
        run_summary="results/train/{robot}/{motion}/{algo}/seed{seed}/summary.json",
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "evaluate", "export", "robots", "jaxcache.py", "policy.py"),
    output:
        onnx="results/export/{robot}/{motion}/{algo}/seed{seed}/policy.onnx",
        spec="results/export/{robot}/{motion}/{algo}/seed{seed}/policy.json",
    params:
        settings=algo_settings("env", "policy"),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/export/{robot}/{motion}/{algo}/seed{seed}.log",
    benchmark:
        "results/benchmarks/export/{robot}/{motion}/{algo}/seed{seed}.tsv"
    wildcard_constraints:
        algo="ppo|ppo_scratch|amp",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic export --robot {params.robot_file:q} --clips {input.clips:q} --motion {wildcards.motion}"
        " --algo {wildcards.algo} --seed {wildcards.seed} --params {input.params:q} --run-summary {input.run_summary:q}"
        " --settings {params.settings:q} --onnx {output.onnx:q} --spec {output.spec:q} > {log:q} 2>&1"


rule sim2sim:
    """An exported policy on the evaluation's seeded episodes in plain MuJoCo: the evaluate stage's metrics."""
    input:
        onnx="results/export/{robot}/{motion}/{algo}/seed{seed}/policy.onnx",
        spec="results/export/{robot}/{motion}/{algo}/seed{seed}/policy.json",
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "evaluate", "export", "robots", "jaxcache.py", "policy.py"),
    output:
        metrics="results/sim2sim/{robot}/{motion}/{algo}/seed{seed}/metrics.json",
        episodes="results/sim2sim/{robot}/{motion}/{algo}/seed{seed}/episodes.csv",
    params:
        settings=algo_settings("env", "evaluate"),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/sim2sim/{robot}/{motion}/{algo}/seed{seed}.log",
    benchmark:
        "results/benchmarks/sim2sim/{robot}/{motion}/{algo}/seed{seed}.tsv"
    wildcard_constraints:
        algo="ppo|ppo_scratch|amp",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic sim2sim --robot {params.robot_file:q} --clips {input.clips:q} --motion {wildcards.motion}"
        " --policy {wildcards.algo} --seed {wildcards.seed} --onnx {input.onnx:q} --spec {input.spec:q}"
        " --settings {params.settings:q} --out {output.metrics:q} --episodes {output.episodes:q} > {log:q} 2>&1"
