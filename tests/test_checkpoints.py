"""Crash safety: the newest readable checkpoint wins, a run killed with SIGKILL resumes bit-identically, and SIGTERM
stops a run cleanly with a checkpoint."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from llmimg.training.checkpoints import list_checkpoints, resolve_resume, save_checkpoint
from llmimg.training.config import TrainConfig
from llmimg.training.trainer import train

# (with DiffAugment on, so that a resumed run's augmentations are shown to be the uninterrupted run's too)
TINY = ["--model", "gan-tiny", "--batch-size", "4", "--log-every", "4", "--eval-n", "0", "--sample-every", "1000",
        "--checkpoint-every", "4", "--keep-checkpoints", "10", "--device", "cpu", "--augment", "translation,cutout"]


def _tensors(state, prefix=""):
    """Every tensor in a nested checkpoint dict, by dotted path."""
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        return {k: v for key, value in state.items() for k, v in _tensors(value, f"{prefix}.{key}").items()}
    if isinstance(state, (list, tuple)):
        return {k: v for i, value in enumerate(state) for k, v in _tensors(value, f"{prefix}.{i}").items()}
    return {}


def _start(out, steps):
    command = [sys.executable, "-m", "llmimg", "train", "--out", str(out), "--steps", str(steps), *TINY]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(path, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)


def test_resume_auto_takes_the_newest_readable_checkpoint_and_keeps_the_last_k(tmp_path, caplog):
    for step in (2, 4, 6, 8):
        save_checkpoint(tmp_path, step, {"step": step, "weights": torch.full((3,), float(step))}, keep=3)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [8, 6, 4]
    newest = list_checkpoints(tmp_path)[0][1]
    newest.write_bytes(newest.read_bytes()[:40])  # a torn write, as after a crash without the atomic rename
    with caplog.at_level(logging.WARNING):
        path, state = resolve_resume(tmp_path, "auto")
    assert state["step"] == 6 and path.name == "step_00000006.pt"
    assert "skipping unreadable checkpoint" in caplog.text and "step_00000008.pt" in caplog.text
    assert resolve_resume(tmp_path / "empty", "auto") is None
    with pytest.raises(FileNotFoundError):
        resolve_resume(tmp_path, str(tmp_path / "missing.pt"))


@pytest.mark.slow
def test_sigkill_then_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    steps = 24
    process = _start(tmp_path / "killed", steps)
    _wait_for(tmp_path / "killed" / "checkpoints" / "step_00000004.pt", process)
    process.kill()  # SIGKILL: no handler runs, whatever was being written stays half-written
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert max(step for step, _ in list_checkpoints(tmp_path / "killed")) < steps, "the run finished before the kill"
    resumed = subprocess.run([sys.executable, "-m", "llmimg", "train", "--out", str(tmp_path / "killed"),
                              "--steps", str(steps), "--resume", *TINY], capture_output=True, text=True, check=False,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    reference = subprocess.run([sys.executable, "-m", "llmimg", "train", "--out", str(tmp_path / "reference"),
                                "--steps", str(steps), *TINY], capture_output=True, text=True, check=False,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert reference.returncode == 0, reference.stderr
    final = f"step_{steps:08d}.pt"
    ours = _tensors(torch.load(tmp_path / "killed" / "checkpoints" / final, weights_only=True))
    theirs = _tensors(torch.load(tmp_path / "reference" / "checkpoints" / final, weights_only=True))
    assert ours.keys() == theirs.keys() and any(".generator." in k for k in ours)
    different = [name for name in ours if not torch.equal(ours[name], theirs[name])]
    assert not different, different[:5]
    exported = [load_file(tmp_path / run / "model.safetensors") for run in ("killed", "reference")]
    assert all(torch.equal(exported[0][name], exported[1][name]) for name in exported[0])


@pytest.mark.slow
def test_sigterm_finishes_the_step_writes_a_checkpoint_and_exits_0(tmp_path, text_encoder):
    steps = 100_000
    process = _start(tmp_path / "run", steps)
    _wait_for(tmp_path / "run" / "checkpoints" / "step_00000004.pt", process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "stopped at step" in output
    last_step, last = list_checkpoints(tmp_path / "run")[0]
    assert 4 <= last_step < steps and torch.load(last, weights_only=True)["step"] == last_step
    assert (tmp_path / "run" / "model.safetensors").is_file()
    # and the stopped run continues where it left off
    config = TrainConfig(out=str(tmp_path / "run"), model="gan-tiny", steps=last_step + 2, batch_size=4,
                         eval_n=0, sample_every=1000, resume="auto", device="cpu")
    train(config, text_encoder)
    assert list_checkpoints(tmp_path / "run")[0][0] == last_step + 2


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create a folder
        return os.mkdir, (self.marker,)


def test_resume_from_a_hostile_pickle_is_one_line_and_never_unpickled(tmp_path, capsys):
    from llmimg.cli.main import main

    marker, evil = tmp_path / "unpickled", tmp_path / "evil.pt"
    torch.save({"step": 1, "payload": _Evil(str(marker))}, evil)
    assert main(["train", "--out", str(tmp_path / "run"), "--steps", "1", *TINY, "--resume", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert "never unpickles code" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "weights_only=False" not in err and not marker.exists()
    evil.write_bytes(b"PK\x03\x04 a torn zip")
    assert main(["train", "--out", str(tmp_path / "run"), "--steps", "1", *TINY, "--resume", str(evil)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
