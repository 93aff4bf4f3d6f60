"""JIT compile time of the batched MJX env step, with a cold and with a warm compilation cache.

Every JAX stage of the workflow (demos, BC's closed-loop check, PPO) starts by compiling the
batched environment's step, and on a 2-core CPU that compilation dominates short runs; the
workflow therefore keeps JAX's persistent compilation cache (``locomimic.jaxcache``). This bench
compiles the same program as a training run does, a ``lax.scan`` of 20 steps of the default robot's
batched imitation env at 256 environments (the default PPO batch), in two fresh processes sharing
one new, empty cache directory: the first finds the cache cold and fills it, the second finds it
warm. Each process reports tracing + lowering (Python work the cache cannot skip) and
``Lowered.compile()`` (XLA compilation, or a cache read) separately. The warm compile is referenced
to the cold one: the ratio is the fraction of the compile time a warm cache leaves.

PPO's own training step compiles more (losses, optimiser, evaluation); bench/train.py covers
training. bench/workflow.py shows the cache's effect on whole stages of the tiny workflow.

    python bench/jit_compile.py [--quick] [--batch 256] [--csv ...] [--summary ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import parse_args, report, summary_row


def child(batch: int, steps: int) -> dict:
    """Trace, lower and compile the env step scan once (runs in its own process); seconds of each."""
    import jax
    import jax.numpy as jp

    from common import imitation_env
    from locomimic.envs import make_training_env
    from locomimic.jaxcache import enable_compilation_cache

    enable_compilation_cache()  # the directory comes from JAX_COMPILATION_CACHE_DIR, set by the parent
    env, _, config = imitation_env("default")
    batched = make_training_env(env, config["env"], batch, seed=0)
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(0), batch))
    actions = jp.zeros((batch, env.action_size))

    def run(state):
        return jax.lax.scan(lambda s, _: (batched.step(s, actions), None), state, None, length=steps)[0]

    start = time.perf_counter()
    lowered = jax.jit(run).lower(state)
    lowered_at = time.perf_counter()
    lowered.compile()
    done = time.perf_counter()
    return {"trace_lower_s": lowered_at - start, "compile_s": done - lowered_at}


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--batch", type=int, default=256),
                                          p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)))
    steps = 20
    if args.child:
        print(json.dumps(child(args.batch, steps)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="locomimic_bench_jax_cache_") as cache:
        environ = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache}
        for state in ("cold", "warm"):
            done = subprocess.run([sys.executable, __file__, "--child", "--batch", str(args.batch)],
                                  env=environ, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"compiling in a fresh process failed:\n{done.stderr[-3000:]}")
            timing = json.loads(done.stdout.strip().splitlines()[-1])
            entries = sum(1 for p in Path(cache).rglob("*") if p.is_file())
            rows.append({"cache": state, "trace_lower_s": round(timing["trace_lower_s"], 2),
                         "compile_s": round(timing["compile_s"], 2), "cache_files_after": entries})
    what = f"MJX env step scan ({steps} steps, batch {args.batch})"
    cold, warm = rows
    summary = [
        summary_row("jit_compile", "jit_compile.env_step_cold", f"compile {what}, cold cache", cold["compile_s"], "s",
                    notes=f"fresh process, empty cache; + {cold['trace_lower_s']:.1f} s tracing and lowering"),
        summary_row("jit_compile", "jit_compile.env_step_warm", f"compile {what}, warm cache", warm["compile_s"], "s",
                    "jit_compile.env_step_cold",
                    f"fresh process, cache filled by the cold run; "
                    f"+ {warm['trace_lower_s']:.1f} s tracing and lowering"),
    ]
    report(f"JIT compile time of the {what}, cold and warm persistent cache", rows, args, summary)


if __name__ == "__main__":
    main()
