# Stage 1: motion sources -> robot joint trajectories (mink IK), with quality metrics per clip.


rule gait_clip:
    """Generate a parametric gait (trot, pace, bound) as a keypoint clip."""
    output:
        "results/clips/{clip}.npz",
    params:
        gait=lambda wildcards: as_json(config["clips"][wildcards.clip]["gait"]),
    input:
        code=code_files("motion"),
    log:
        "results/logs/gait_clip/{clip}.log",
    conda:
        "../../envs/locomimic.yaml"
    wildcard_constraints:
        clip="|".join(GAIT_CLIPS) or "^$",
    shell:
        "python -m locomimic gait --name {wildcards.clip:q} --params {params.gait:q} --out {output:q} > {log:q} 2>&1"


rule retarget:
    """Retarget one clip onto one robot: trajectory .npz plus quality metrics .json."""
    input:
        clip=clip_file,
        robot=robot_files,
        code=code_files("motion", "retarget", "robots"),
    output:
        motion="results/retarget/{robot}/{clip}.npz",
        metrics="results/retarget/{robot}/{clip}.json",
    params:
        spec=lambda wildcards: as_json(config["clips"][wildcards.clip]),
        settings=as_json(config["retarget"]),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/retarget/{robot}/{clip}.log",
    benchmark:
        "results/benchmarks/retarget/{robot}/{clip}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic retarget --name {wildcards.clip:q} --clip {input.clip:q}"
        " --clip-spec {params.spec:q} --robot {params.robot_file:q} --settings {params.settings:q}"
        " --out {output.motion:q} --metrics {output.metrics:q} > {log:q} 2>&1"
