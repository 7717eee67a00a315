"""The command line: a working generate and eval, and every bad input as one clear line and a non-zero exit."""

import subprocess
import sys

import pytest
from PIL import Image

from llmimg.cli.main import main


def test_generate_writes_pngs_with_metadata_and_a_grid(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "out"
    code = main(["generate", "a large red circle", "a small blue square", "--n", "2", "--seed", "5",
                 "--model", str(tiny_model_path), "--out", str(out)])
    assert code == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 5 and "grid.png" in pngs
    with Image.open(out / "001_a-large-red-circle_s6.png") as image:
        assert image.text["prompt"] == "a large red circle" and image.text["seed"] == "6"
    assert "wrote 4 images" in capsys.readouterr().out


def test_generate_from_file(tmp_path, tiny_model_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a large red circle\n\na small green square\n")
    assert main(["generate", "--from-file", str(prompts), "--n", "1", "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "o"), "--no-grid"]) == 0
    assert len(list((tmp_path / "o").glob("*.png"))) == 2


def test_eval_writes_json(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", "--n", "6", "--model", str(tiny_model_path), "--out", str(out)]) == 0
    import json

    report = json.loads(out.read_text())["shapes"]
    assert set(report) == {"test-seen", "test-heldout"}
    assert report["test-seen"]["all"]["n"] == 6
    assert "| test-seen | two-object |" in capsys.readouterr().out


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"garbage")
    return path


@pytest.mark.parametrize("argv, message", [
    (["generate", ""], "empty prompt"),
    (["generate", "   "], "empty prompt"),
    (["generate"], "no prompt"),
    (["generate", "a red circle", "--n", "0"], "at least 1"),
    (["generate", "a red circle", "--model", "MISSING"], "model file not found"),
    (["generate", "a red circle", "--model", "CORRUPT"], "not a readable"),
    (["generate", "--from-file", "MISSING.txt"], "prompt file not found"),
    (["train", "--data", "imagenet-21k", "--dry-run"], "unknown dataset"),
    (["train", "--data", "EMPTY", "--dry-run"], "no images"),
    (["eval", "--n", "0"], "at least 1"),
])
def test_bad_input_is_one_line_and_nothing_written(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    replace = {"MISSING": str(tmp_path / "missing.safetensors"), "CORRUPT": str(_corrupt(tmp_path)),
               "MISSING.txt": str(tmp_path / "none.txt"), "EMPTY": str(tmp_path / "empty")}
    out = tmp_path / "out"
    argv = [replace.get(a, a) for a in argv]
    if argv[0] in ("generate", "train"):
        argv += ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_console_script_reports_errors_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "llmimg", "generate", "a red circle", "--model",
                             str(tmp_path / "nope.safetensors")], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "model file not found" in result.stderr and "Traceback" not in result.stderr
