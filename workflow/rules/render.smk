# Stage 6: videos (mp4, headless through MUJOCO_GL=egl or osmesa): each policy's first evaluated episode
# with a translucent ghost of its reference, and each retargeted clip with its source keypoints. No
# simulation here: the poses come from the evaluate and retarget stages.


rule render_policy:
    """A policy's first evaluated episode with the reference as a ghost, from a tracking camera."""
    input:
        trajectory="results/eval/{robot}/{motion}/{policy}/seed{seed}/trajectory.npz",
        robot=robot_files,
        code=code_files("envs", "evaluate", "render", "robots"),
    output:
        "results/render/policy/{robot}/{motion}/{policy}/seed{seed}.mp4",
    params:
        settings=stage_settings("render"),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/render_policy/{robot}/{motion}/{policy}/seed{seed}.log",
    benchmark:
        "results/benchmarks/render_policy/{robot}/{motion}/{policy}/seed{seed}.tsv"
    wildcard_constraints:
        policy="|".join(EVAL_POLICIES) or "^$",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic render-policy --robot {params.robot_file:q} --trajectory {input.trajectory:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule render_retarget:
    """A retargeted clip on the robot with the scaled source keypoints and bones drawn over it."""
    input:
        clip="results/retarget/{robot}/{clip}.npz",
        robot=robot_files,
        code=code_files("envs", "robots", "render/__init__.py", "render/video.py", "render/scene.py",
                        "render/retarget_video.py"),
    output:
        "results/render/retarget/{robot}/{clip}.mp4",
    params:
        settings=stage_settings("render"),
        robot_file=lambda wildcards, input: input.robot[0],
    log:
        "results/logs/render_retarget/{robot}/{clip}.log",
    benchmark:
        "results/benchmarks/render_retarget/{robot}/{clip}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic render-retarget --robot {params.robot_file:q} --clip {input.clip:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"
