"""The command line: a working generate and eval, and every bad input as one clear line and a non-zero exit."""

import json
import re
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from llmimg.cli.main import build_parser, main


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
    assert main(["generate", "a red circle", "--n", "1", "--model", str(tiny_model_path), "--out", str(out)]) == 0
    assert "wrote 1 image to" in capsys.readouterr().out


def test_generate_warns_of_words_outside_the_vocabulary(tmp_path, tiny_model_path, caplog):
    argv = ["generate", "a large orange star", "a large red circle", "a large orange star", "--n", "1",
            "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 0  # drawn all the same
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "'a large orange star'" in warnings[0] and "'orange', 'star'" in warnings[0]
    assert len(list((tmp_path / "out").glob("*.png"))) == 4


def test_generate_from_file(tmp_path, tiny_model_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a large red circle\n\na small green square\n")
    assert main(["generate", "--from-file", str(prompts), "--n", "1", "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "o"), "--no-grid"]) == 0
    assert len(list((tmp_path / "o").glob("*.png"))) == 2


def test_eval_report_checker_figures_match_its_json(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "report"
    assert main(["eval", "--n", "6", "--metrics", "checker", "--diversity-prompts", "3",
                 "--model", str(tiny_model_path), "--out", str(out)]) == 0
    result = json.loads((out / "report.json").read_text())
    assert [row["name"] for row in result["rows"]] == ["real vs real", "tiny", "untrained gan"]
    markdown = (out / "report.md").read_text()
    for row in result["rows"]:  # every checker cell of report.md is the JSON's figure
        section = markdown.split(f"### {row['name']}\n")[1].split("\n\n")[1]
        for line in section.splitlines()[2:]:
            split, group, n, *cells = [cell.strip() for cell in line.strip("|").split("|")]
            summary = row["checker"][split][group]
            assert int(n) == summary["n"]
            for column, cell in zip(["pass", "count", "colour", "shape", "size", "relation"], cells):
                assert cell == (f"{100 * summary[column]:.1f}%" if column in summary else "—")
    assert (out / "samples.png").is_file() and (out / "checker.png").is_file()
    assert "| real vs real | reference |" in capsys.readouterr().out


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"garbage")
    return path


def _pickle(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    return path


def _null_config(tmp_path):
    path = tmp_path / "null.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "llmimg-generator-v1", "config": "null"})
    return path


@pytest.mark.parametrize("argv, message", [
    (["generate", ""], "is empty (after normalising)"),
    (["generate", "   "], "is empty (after normalising)"),
    (["generate"], "no prompt"),
    (["generate", "a red circle", "--n", "0"], "at least 1"),
    (["generate", "a red circle", "--model", "MISSING"], "model file not found"),
    (["generate", "a red circle", "--model", "CORRUPT"], "not a readable"),
    (["generate", "a red circle", "--model", "PICKLE"], "not a .safetensors model file"),
    (["generate", "a red circle", "--model", "NULL_CONFIG"], "must be a JSON object"),
    (["generate", "--from-file", "MISSING.txt"], "prompt file not found"),
    (["train", "--data", "imagenet-21k", "--dry-run"], "unknown dataset"),
    (["train", "--data", "EMPTY", "--dry-run"], "no images"),
    (["train", "--steps", "0", "--dry-run"], "--steps must be at least 1, got 0"),
    (["train", "--recipe", "shapes", "--hard-negatives", "2", "--dry-run"], "--hard-negatives must be in 0..1"),
    (["eval", "--n", "0"], "at least 1"),
    (["eval", "--metrics", "fid,sharpness"], "unknown metric"),
    (["eval", "--data", "EMPTY", "--metrics", "fid"], "no images"),
    (["eval", "--data", "shapes", "--out", "A_FILE", "--metrics", "checker", "--n", "2"], "is a file"),
    (["generate", "a red circle", "--model", "flowers"],
     "bundled models: shapes, shapes-vae, shapes-gan, fashion, emoji"),
    (["generate", "a red circle", "--device", "gpu"], "unknown device 'gpu'"),
    (["train", "--device", "gpu", "--dry-run"], "unknown device 'gpu'"),
    (["generate", "a red circle", "--device", "cuda"], "no CUDA device"),
    (["interpolate", "a", "b", "--device", "cuda"], "no CUDA device"),
    (["train", "--device", "cuda", "--dry-run"], "no CUDA device"),
    (["generate", "a red circle", "--seed", "-5"], "seed must be in 0 .. 4294967295"),
    (["generate", "a red circle", "--seed", str(2**64)], "seed must be in 0 .. 4294967295"),
    (["interpolate", "a", "b", "--seed", str(2**32)], "--seed must be in 0 .. 4294967295"),
    (["explain", "a red circle", "--seed", "-1"], "--seed must be in 0 .. 4294967295"),
])
def test_bad_input_is_one_line_and_nothing_written(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the same answer on a machine with a GPU
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.json").write_text("{}")
    replace = {"MISSING": str(tmp_path / "missing.safetensors"), "CORRUPT": str(_corrupt(tmp_path)),
               "MISSING.txt": str(tmp_path / "none.txt"), "EMPTY": str(tmp_path / "empty"),
               "A_FILE": str(tmp_path / "a.json"), "PICKLE": str(_pickle(tmp_path)),
               "NULL_CONFIG": str(_null_config(tmp_path))}
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


@pytest.mark.parametrize("command", [["generate", "a red circle"], ["train", "--dry-run"], ["data", "pack", "."],
                                     ["export", "--format", "onnx"]])
def test_out_naming_a_file_is_one_line(tmp_path, capsys, command):
    existing = tmp_path / "taken.png"
    existing.write_bytes(b"not a folder")
    for out in (existing, existing / "below"):
        assert main([*command, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{existing} is a file, not a folder" in err and len(err.splitlines()) == 1
    assert existing.read_bytes() == b"not a folder"


COMMANDS = [["train"], ["generate"], ["edit"], ["vary"], ["eval"], ["explain"], ["prompts"], ["interpolate"],
            ["data", "check"], ["data", "pack"], ["export"], ["bench"], ["serve"]]


def test_help_imports_no_heavy_library():
    # `llmimg --help` answers in well under a second only if building the parser leaves torch & co. unimported
    script = ("import sys\nfrom llmimg.cli.main import main\n"
              f"for command in [[]] + {COMMANDS!r}:\n"
              "    try:\n        main([*command, '--help'])\n    except SystemExit:\n        pass\n"
              "heavy = 'torch transformers numpy PIL matplotlib scipy onnx onnxscript fastapi uvicorn'.split()\n"
              "print('imported:', [name for name in heavy if name in sys.modules], file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stderr.strip().splitlines()[-1] == "imported: []"
    assert "llmimg serve" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_states_each_default_once(capsys, command):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert not re.search(r"\(default: [^()]*\) \(default:", text)


@pytest.mark.parametrize("command", [["generate", "a red circle"], ["data", "check", "."], ["train"]])
def test_a_mistyped_flag_shows_the_commands_usage(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--sed", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    name = " ".join(command[:2] if command[0] == "data" else command[:1])
    assert err.startswith(f"usage: llmimg {name} ") and f"llmimg {name}: error: unrecognized arguments: --sed 3" in err
    with pytest.raises(SystemExit):
        main(["--sed", *command])  # before the command, the top-level usage
    assert capsys.readouterr().err.startswith("usage: llmimg [-h]")


@pytest.mark.parametrize("argv, verbose", [(["export", "--out", "x"], False), (["-v", "export", "--out", "x"], True),
                                           (["export", "--out", "x", "--verbose"], True),
                                           (["data", "check", "x", "-v"], True), (["data", "check", "x"], False)])
def test_verbose_before_or_after_the_command(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose


@pytest.mark.slow
def test_export_keeps_the_libraries_logs_quiet_without_verbose(tmp_path, tiny_model_path):
    result = subprocess.run([sys.executable, "-m", "llmimg", "export", "--model", str(tiny_model_path),
                             "--out", str(tmp_path / "onnx")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    loggers = re.findall(r"^\d\d:\d\d:\d\d \w+ (\S+):", result.stderr, re.MULTILINE)
    assert loggers and all(name.startswith("llmimg.") for name in loggers)  # no onnxscript, onnx_ir or root lines
    assert "pre-processing" not in result.stderr and "onnxscript" not in result.stdout + result.stderr


def test_a_flags_help_is_its_whole_comment_continued_lines_included(capsys):
    """A TrainConfig field's comment that runs onto comment lines below it is the flag's help in full."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at the posterior's and the prior's noise, against the caption's relation (shapes)" in text
    assert "Written with the generator to --out (default: None)" in text
    assert "(default: 0.0) bfloat16" not in text and "dry run" not in text.split("--dry-run")[0][-80:]
