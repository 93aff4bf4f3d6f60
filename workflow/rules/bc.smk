# Stage 3: behaviour cloning into brax PPO's policy network, evaluated in closed loop.


rule bc:
    """BC policy of one motion on one robot, its loss curve and its validation/closed-loop metrics."""
    input:
        expert=demo_expert,
        demos="results/demos/{robot}/{motion}.npz",
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "bc", "robots", "jaxcache.py", "policy.py"),
    output:
        params="results/bc/{robot}/{motion}/policy.params",
        history="results/bc/{robot}/{motion}/loss.csv",
        metrics="results/bc/{robot}/{motion}/metrics.json",
    params:
        settings=stage_settings("seed", "env", "policy", "bc"),
        robot_file=lambda wildcards, input: input.robot[0],
        expert=expert_arg,
    log:
        "results/logs/bc/{robot}/{motion}.log",
    benchmark:
        "results/benchmarks/bc/{robot}/{motion}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic bc --robot {params.robot_file:q} --clips {input.clips:q} --demos {input.demos:q}"
        " {params.expert} --settings {params.settings:q} --out {output.params:q} --history {output.history:q}"
        " --metrics {output.metrics:q} > {log:q} 2>&1"


rule bc_locomotion:
    """BC policy for the locomotion task (AMP starts from it): the same demos cut to proprioception + command."""
    input:
        demos="results/demos/{robot}/{motion}.npz",
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "bc", "robots", "jaxcache.py", "policy.py"),
    output:
        params="results/bc/{robot}/{motion}/locomotion/policy.params",
        history="results/bc/{robot}/{motion}/locomotion/loss.csv",
        metrics="results/bc/{robot}/{motion}/locomotion/metrics.json",
    params:
        settings=stage_settings("seed", "env", "policy", "bc", task="locomotion"),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/bc/{robot}/{motion}.locomotion.log",
    benchmark:
        "results/benchmarks/bc/{robot}/{motion}.locomotion.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic bc --task locomotion --robot {params.robot_file:q} --clips {input.clips:q}"
        " --demos {input.demos:q} --settings {params.settings:q} --out {output.params:q}"
        " --history {output.history:q} --metrics {output.metrics:q} > {log:q} 2>&1"
