"""bench/: the combined table's plumbing, and `bench/run.py --quick` on its fastest bench (retarget)."""

from __future__ import annotations

import csv
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from common import resolve_ratios, summary_row  # noqa: E402


def test_ratios_resolve_across_benches_and_say_when_a_reference_is_missing():
    rows = [
        summary_row("mjx_env", "mjx_env.mjx_b256", "MJX", 8000.0, "env steps/s"),
        summary_row("train", "train.ppo_steps_per_s", "PPO", 4000.0, "env steps/s", "mjx_env.mjx_b256"),
        summary_row("train", "train.amp_steps_per_s", "AMP", 3000.0, "env steps/s", "mjx_env.mjx_b4096"),
        summary_row("workflow", "workflow.warm_s.x", "x", 5.0, "s", reference="cold: 20 s", ratio=0.25),
        summary_row("retarget", "retarget.unitree_go2_frames_per_s", "Go2", None, "frames/s", notes="skipped: no Go2"),
    ]
    resolve_ratios(rows, note_missing=True)
    assert rows[1]["ratio"] == 0.5
    assert rows[2]["ratio"] is None and "mjx_env.mjx_b4096 not measured" in rows[2]["notes"]
    assert rows[3]["ratio"] == 0.25 and "not measured" not in rows[3]["notes"]
    assert rows[4]["ratio"] is None and rows[4]["notes"] == "skipped: no Go2"


def test_run_quick_writes_one_combined_table(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "retarget",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "# locomimic benchmarks" in done.stdout
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = {row["key"]: row for row in csv.DictReader(handle)}
    assert float(rows["retarget.default_frames_per_s"]["value"]) > 0
    go2 = rows["retarget.unitree_go2_frames_per_s"]  # measured, or skipped with the reason
    assert go2["value"] or go2["notes"].startswith("skipped:")
    assert float(rows["run.total_s"]["value"]) > 0
    assert (tmp_path / "retarget.csv").is_file() and (tmp_path / "summary.md").read_text().startswith("Machine:")
