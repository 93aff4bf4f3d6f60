"""The tiny workflow end to end: wall time, peak memory, per-stage memory and time, dry-run latency.

Runs the real Snakefile on tests/config/tiny.yaml (one short generated trot, default robot, every
stage of the workflow) in a new temporary working directory, with ``--cores 2`` as the tests do
and with a new, empty ``JAX_COMPILATION_CACHE_DIR``:

1. **Cold run**: wall time of ``snakemake`` from start to finish, and its peak memory, sampled
   every 0.1 s by this bench over Snakemake and all its descendants (sum of their RSS; shared pages
   count once per process, so this errs high) and as the largest single process.
2. **Per-stage peak memory**: ``max_rss`` of every ``benchmark:`` file
   (``results/benchmarks/**.tsv``). Snakemake samples a job every 0.5 s during its first ~15 s and
   then only every 30 s, so a short-lived peak later in a long job can be missed; the bench's own
   0.1 s samples of the same stage's processes are given beside it.
3. **Dry run**: ``snakemake -n`` on the finished workflow (median of 3; it must answer within a
   few seconds and find nothing to do).

Each stage's time in its benchmark file includes its JIT compilation, with the cache cold at the
start of the run (jobs later in the run may reuse programs compiled by earlier ones); a warm rerun
of the workflow is left out to keep ``make bench`` within its budget: bench/jit_compile.py measures
compile time with a cold and a warm cache directly.

With ``--quick`` only the stages up to ``demos`` run (``--until demos``), and ``snakemake -n`` once.

    python bench/workflow.py [--quick] [--keep] [--csv ...] [--summary ...]
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from common import REPO, parse_args, report, summary_row

TINY = REPO / "tests" / "config" / "tiny.yaml"
MB = 1e6  # Snakemake's max_rss is in MB (10^6 bytes)
LOG = re.compile(r"results/logs/([^\s'\"]+)\.log")  # a job's shell command names its log file


def run_sampled(command: list[str], env: dict, interval: float = 0.1) -> dict:
    """Run ``command``, sampling the RSS of it and every descendant; wall time and peaks (MB).

    ``jobs`` maps each Snakemake job, named by its log file ``results/logs/<job>.log`` (the same path
    as its benchmark file under results/benchmarks/ in this workflow), to the largest sum of RSS
    seen over the job's shell and its children.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(process.pid)
    peak_total = peak_process = 0.0
    jobs: dict[str, float] = {}
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss, job_of = {}, {}
        for proc in tree:
            try:
                size, found, parent = proc.memory_info().rss / MB, LOG.search(" ".join(proc.cmdline())), proc.ppid()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            rss[proc.pid] = size
            job_of[proc.pid] = found.group(1) if found else parent  # a job, or the pid to look up
        now: dict[str, float] = {}
        for pid, size in rss.items():
            job, seen = job_of[pid], set()
            while isinstance(job, int) and job in job_of and job not in seen:  # climb to the job's shell
                seen.add(job)
                job = job_of[job]
            if isinstance(job, str):
                now[job] = now.get(job, 0.0) + size
        for job, size in now.items():
            jobs[job] = max(jobs.get(job, 0.0), size)
        peak_total = max(peak_total, sum(rss.values()))
        peak_process = max([peak_process, *rss.values()])
        time.sleep(interval)
    process.wait()
    reader.join(timeout=5)
    return {"returncode": process.returncode, "wall_s": time.perf_counter() - start, "peak_total_mb": peak_total,
            "peak_process_mb": peak_process, "jobs": jobs, "output": "".join(output)}


def stage_benchmarks(workdir: Path) -> dict[str, dict]:
    """``{job: {"s": seconds, "max_rss": MB, "mtime": ns}}`` from every Snakemake benchmark file; ``job`` is
    the file's path under results/benchmarks/ without ``.tsv`` (e.g. ``train/default/trot/ppo/seed0``)."""
    found = {}
    for tsv in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        with open(tsv, newline="") as handle:
            record = next(csv.DictReader(handle, delimiter="\t"))
        job = tsv.relative_to(workdir / "results" / "benchmarks").with_suffix("").as_posix()
        found[job] = {"s": float(record["s"]), "max_rss": float(record["max_rss"]), "mtime": tsv.stat().st_mtime_ns}
    return found


def nothing_to_do(dry_run_output: str) -> bool:
    """Whether a dry run plans no job: "Nothing to be done", or a job table whose total is 0."""
    total = re.search(r"^total\s+(\d+)\s*$", dry_run_output, re.MULTILINE)
    return int(total.group(1)) == 0 if total else "Nothing to be done" in dry_run_output


def main() -> None:
    args = parse_args(__doc__, lambda p: p.add_argument("--keep", action="store_true",
                                                        help="keep the temporary working directory"))
    workdir = Path(tempfile.mkdtemp(prefix="locomimic_bench_workflow_"))
    try:
        measure(workdir, args)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def measure(workdir: Path, args) -> None:
    configfile = workdir / "config.yaml"
    shutil.copyfile(TINY, configfile)
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(workdir / "jax-cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                 "--cores", "2", "--configfile", str(configfile)]

    if args.quick:  # the stages up to demos only: every code path of this bench in about a minute
        snakemake += ["--until", "demos"]
    cold = run_sampled(snakemake, env)
    if cold["returncode"]:
        sys.exit(f"the tiny workflow failed:\n{cold['output'][-3000:]}")
    jobs_cold = stage_benchmarks(workdir)

    dry_times = []
    for _ in range(1 if args.quick else 3):
        start = time.perf_counter()
        done = subprocess.run([*snakemake, "-n"], env=env, capture_output=True, text=True)
        dry_times.append(time.perf_counter() - start)
        if done.returncode or not nothing_to_do(done.stdout + done.stderr):
            sys.exit(f"snakemake -n on the finished workflow did not find it complete:\n{done.stdout[-2000:]}"
                     f"{done.stderr[-2000:]}")

    rows = [{"job": job, "seconds": round(record["s"], 1), "max_rss_mb": round(record["max_rss"]),
             "bench_sampled_peak_mb": round(cold["jobs"][job]) if job in cold["jobs"] else ""}
            for job, record in jobs_cold.items()]
    rows.append({"job": "(whole workflow)", "seconds": round(cold["wall_s"], 1),
                 "max_rss_mb": round(cold["peak_process_mb"]), "bench_sampled_peak_mb": round(cold["peak_total_mb"])})

    summary = [
        summary_row("workflow", "workflow.tiny_cold_s", "tiny workflow end to end, cold JAX cache", cold["wall_s"], "s",
                    notes=f"tests/config/tiny.yaml, --cores 2, {len(jobs_cold)} benchmarked jobs, empty cache dir"
                          + ("; --quick: --until demos" if args.quick else "")),
        summary_row("workflow", "workflow.tiny_peak_rss_mb", "tiny workflow peak memory, all processes",
                    cold["peak_total_mb"], "MB",
                    notes=f"sum of RSS, sampled every 0.1 s; largest single process {cold['peak_process_mb']:,.0f} MB"),
        summary_row("workflow", "workflow.dry_run_s", "snakemake -n on the finished workflow",
                    statistics.median(dry_times), "s",
                    notes=f"median of {len(dry_times)}; plans no job; should answer within a few seconds"),
    ]
    for job, record in jobs_cold.items():
        sampled = cold["jobs"].get(job)
        also = f"; bench's 0.1 s samples: {sampled:,.0f} MB" if sampled else ""
        summary.append(summary_row(
            "workflow", f"workflow.max_rss.{job}", f"peak RSS of stage {job}", record["max_rss"], "MB",
            notes=f"Snakemake benchmark max_rss{also}; the job took {record['s']:.0f} s"))
    report("tiny workflow (tests/config/tiny.yaml) end to end", rows, args, summary)


if __name__ == "__main__":
    main()
