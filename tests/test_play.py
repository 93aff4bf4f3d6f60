"""``python -m locomimic play``: command schedules, the per-segment report, the video, and one error line
for a bad path, a policy for another robot or task, or a bad schedule.

The policy here is freshly initialised (it cannot track anything); that a trained policy tracks its
schedule is checked on the tiny workflow's AMP policy in test_workflow.py.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from conftest import REPO, run_locomimic
from locomimic.errors import LocomimicError
from locomimic.play import Segment, parse_schedule
from test_export import IMITATION_OBS, LOCOMOTION_OBS, saved_params
from test_render import assert_video

SEGMENT = re.compile(r"^segment (\d+)  (\d+\.\d\d)-(\d+\.\d\d) s  commanded forward (-?\d+\.\d{3}) lateral "
                     r"(-?\d+\.\d{3}) yaw_rate (-?\d+\.\d{3})  achieved forward (-?\d+\.\d{3}) lateral (-?\d+\.\d{3}) "
                     r"yaw_rate (-?\d+\.\d{3})$")


def segments(stdout: str) -> list[tuple]:
    """(segment, from, to, commanded forward, achieved forward) of each report line."""
    found = [SEGMENT.match(line) for line in stdout.splitlines()]
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4]), float(m[7])) for m in found if m]


def test_a_schedule_is_time_then_the_locomotion_command():
    assert parse_schedule("0:0.3,0,0 4:0.8,0,0 8:0.5,0,0.5", 10) == [
        Segment(0.0, (0.3, 0.0, 0.0)), Segment(4.0, (0.8, 0.0, 0.0)), Segment(8.0, (0.5, 0.0, 0.5))]
    for text, message in (("0:0.3,0", "is not 'time:forward,lateral,yaw_rate'"), ("1:0.3,0,0", "expected 0"),
                          ("0:0.3,0,0 2:0,0,0 1:0,0,0", "must increase"), ("0:a,0,0", "is not"),
                          ("0:0,0,0 12:0,0,0", "at or after the end"), ("", "no segment")):
        with pytest.raises(LocomimicError, match=message) as error:
            parse_schedule(text, 10)
        assert str(error.value).startswith("--commands: ")


@pytest.fixture(scope="module")
def results(tmp_path_factory, trot_clip):
    """A results/ tree as the workflow leaves it: an AMP (locomotion) and a PPO (imitation) run of the default
    robot's trot, its retargeted clip, and the config that names them."""
    root = tmp_path_factory.mktemp("play")
    for algo, task, size in (("amp", "locomotion", LOCOMOTION_OBS), ("ppo", "imitation", IMITATION_OBS)):
        run = root / "results" / "train" / "default" / "trot" / algo / "seed0"
        saved_params(run / "policy.params", size, seed=7)
        (run / "summary.json").write_text(json.dumps({"algo": algo, "task": task, "robot": "default"}))
    (root / "results" / "retarget" / "default").mkdir(parents=True)
    shutil.copy(trot_clip, root / "results" / "retarget" / "default" / "trot.npz")
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    config["robots_dir"] = str(REPO / "config" / "robots")
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def play(results, algo, *args):
    params = results / "results" / "train" / "default" / "trot" / algo / "seed0" / "policy.params"
    return params, run_locomimic("play", str(params), "--config", str(results / "config.yaml"), *args, cwd=results)


@pytest.mark.slow
def test_play_reports_each_segment_and_writes_the_video(results):
    video = results / "amp.mp4"
    _, done = play(results, "amp", "--commands", "0:0.3,0,0 1:0.6,0,0.2", "--duration", "2", "--out", str(video),
                   "--camera", "2.0,90,-15")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [row[:4] for row in segments(done.stdout)] == [(1, 0.0, 1.0, 0.3), (2, 1.0, 2.0, 0.6)]
    assert "commanded forward 0.600 lateral 0.000 yaw_rate 0.200" in done.stdout
    assert "play: 100/100 env steps" in done.stderr  # progress like the other stages
    render = yaml.safe_load((results / "config.yaml").read_text())["render"]
    assert_video(video, round(render["fps"] * 2), (render["width"], render["height"]), render["fps"])


@pytest.mark.slow
def test_an_imitation_policy_plays_its_motion_from_a_frame(results):
    # No settling time: an untrained policy soon strays from the reference, ending the episode.
    _, done = play(results, "ppo", "--frame", "5", "--duration", "1", "--settle", "0", "--no-video")
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = segments(done.stdout)
    assert row[:3] == (1, 0.0, 1.0) and 0.5 < row[3] < 0.7  # commanded: the 0.6 m/s trot's own velocity
    assert re.search(r"^the episode ended at \d\.\d\d s \((a fall|straying from the reference)\)$", done.stdout,
                     re.M) or "ended" not in done.stdout
    assert not (results / "play.mp4").exists()


@pytest.mark.slow
def test_bad_input_is_one_error_line(results, tmp_path):
    missing = tmp_path / "policy.params"
    done = run_locomimic("play", str(missing), "--commands", "0:0.3,0,0")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == \
        f"error: {missing}: policy parameters not found"
    for algo, args, message in (
            ("amp", ["--robot", "unitree_go2", "--commands", "0:0.3,0,0"],
             ": --robot: a policy for robot 'default' (its results folder and run summary say so), not 'unitree_go2'"),
            ("ppo", ["--commands", "0:0.3,0,0"], ": --commands: an imitation policy follows its motion"),
            ("amp", [], ": --commands: a locomotion policy: give a command schedule"),
            ("amp", ["--commands", "0:0.3,0,0 3:0,0,0", "--duration", "2"], "error: --commands: a segment starts at 3")):
        params, done = play(results, algo, *args)
        assert done.returncode == 2, done.stderr[-2000:]
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last and len(done.stderr.strip().splitlines()) == 1, last
        if message.startswith(":"):
            assert last.startswith(f"error: {params}: "), last
