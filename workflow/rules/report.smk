# Stage 7: what `snakemake --report results/report.html` shows: figures, the evaluation table and video
# galleries (HTML pages with the mp4s embedded, as the report plays HTML inline but not mp4).


rule plot_retarget:
    """Retargeting quality of every clip on every robot."""
    input:
        metrics=per_robot("results/retarget/{robot}/{clip}.json", ROBOT_CLIPS),
        code=code_files("evaluate", "report"),
    output:
        report("results/plots/retarget.png", caption="../report/retarget_errors.rst", category="1. Retargeting"),
    log:
        "results/logs/plot_retarget.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic plot retarget --inputs {input.metrics:q} --out {output:q} > {log:q} 2>&1"


rule retarget_videos:
    """Every retargeted clip of a robot as a video, with its source keypoints."""
    input:
        videos=lambda wildcards: expand("results/render/retarget/{robot}/{clip}.mp4", robot=wildcards.robot,
                                        clip=ROBOT_CLIPS[wildcards.robot]),
        code=code_files("evaluate", "report"),
    output:
        report(
            "results/report/{robot}/retarget_videos.html",
            caption="../report/retarget_videos.rst",
            category="1. Retargeting",
            labels={"robot": "{robot}", "content": "videos"},
        ),
    params:
        labels=lambda wildcards: ROBOT_CLIPS[wildcards.robot],
    log:
        "results/logs/retarget_videos/{robot}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic report-page videos --inputs {input.videos:q} --labels {params.labels:q}"
        " --title 'Retargeting on {wildcards.robot}: robot and source keypoints' --out {output:q} > {log:q} 2>&1"


rule plot_learning_curves:
    """Training curves of every algo on one robot and motion, with a band over seeds."""
    input:
        metrics=train_metric_files,
        code=code_files("evaluate", "report"),
    output:
        report(
            "results/plots/{robot}/{motion}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="2. Training",
            labels={"robot": "{robot}", "motion": "{motion}"},
        ),
    log:
        "results/logs/plot_learning_curves/{robot}/{motion}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic plot learning --inputs {input.metrics:q} --title '{wildcards.robot} / {wildcards.motion}'"
        " --out {output:q} > {log:q} 2>&1"


rule plot_evaluation:
    """A bar per policy and metric (mean, 95% CI) on one robot and motion."""
    input:
        metrics="results/eval/metrics.json",
        code=code_files("evaluate", "report"),
    output:
        report(
            "results/plots/{robot}/{motion}/evaluation.png",
            caption="../report/evaluation_bars.rst",
            category="3. Evaluation",
            subcategory="figures",
            labels={"robot": "{robot}", "motion": "{motion}"},
        ),
    log:
        "results/logs/plot_evaluation/{robot}/{motion}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic plot evaluation --inputs {input.metrics:q} --robot-name {wildcards.robot}"
        " --motion {wildcards.motion} --out {output:q} > {log:q} 2>&1"


rule evaluation_table:
    """The evaluation metrics of every policy as an HTML table (mean +- 95% CI)."""
    input:
        metrics="results/eval/metrics.json",
        code=code_files("evaluate", "report"),
    output:
        report(
            "results/report/evaluation.html",
            caption="../report/eval_summary.rst",
            category="3. Evaluation",
            subcategory="tables",
        ),
    log:
        "results/logs/evaluation_table.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic report-page metrics --inputs {input.metrics:q} --out {output:q} > {log:q} 2>&1"


rule policy_videos:
    """Every policy and baseline of one robot and motion side by side, each with its reference ghost."""
    input:
        videos=policy_videos,
        code=code_files("evaluate", "report"),
    output:
        report(
            "results/report/{robot}/{motion}/videos.html",
            caption="../report/policy_videos.rst",
            category="4. Videos",
            labels={"robot": "{robot}", "motion": "{motion}"},
        ),
    params:
        labels=motion_labels,
        seed=RENDER_SEED,
    log:
        "results/logs/policy_videos/{robot}/{motion}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/locomimic.yaml"
    shell:
        "python -m locomimic report-page videos --inputs {input.videos:q} --labels {params.labels:q}"
        " --title '{wildcards.robot} / {wildcards.motion}: policies (blue ghost: reference), seed {params.seed}'"
        " --out {output:q} > {log:q} 2>&1"
