# Stage 2: an expert rolled out in the batched MJX imitation environment -> (obs, action) dataset.


rule demos:
    """Demonstrations of one motion on one robot: dataset .npz and summary .json."""
    input:
        expert=demo_expert,
        clips=motion_clips,
        robot=robot_files,
        code=code_files("envs", "demos", "robots", "jaxcache.py", "policy.py"),
    output:
        demos="results/demos/{robot}/{motion}.npz",
        summary="results/demos/{robot}/{motion}.json",
    params:
        settings=stage_settings("seed", "env", "policy", "demos"),
        robot_file=lambda wildcards, input: input.robot[0],
        expert=expert_arg,
    log:
        "results/logs/demos/{robot}/{motion}.log",
    benchmark:
        "results/benchmarks/demos/{robot}/{motion}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic demos --robot {params.robot_file:q} --clips {input.clips:q}"
        " {params.expert} --settings {params.settings:q} --out {output.demos:q} --summary {output.summary:q}"
        " > {log:q} 2>&1"
