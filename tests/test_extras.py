"""Optional extras: the core (generate, train) runs without them; a command that needs a missing one says which."""

import subprocess
import sys

import pytest

from llmimg.extras import EXTRA_OF, missing_extra_hint

# Run in a fresh interpreter in which llmimg's own imports of every extra's modules fail as if not installed (the
# libraries' own optional probes, such as torch's of onnx, still see them).
WITHOUT_EXTRAS = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back
        if name.split(".")[0] in BLOCKED and frame is not None and "/llmimg/" in frame.f_code.co_filename:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from llmimg.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def run_without_extras(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, ",".join(EXTRA_OF), *argv], capture_output=True,
                          text=True, timeout=300, check=False)


def test_hint_names_the_extra_and_leaves_other_missing_modules_alone():
    assert "pip install 'llmimg[serve]'" in missing_extra_hint(ModuleNotFoundError("x", name="fastapi.routing"))
    assert missing_extra_hint(ModuleNotFoundError("x", name="llmimg.nonexistent")) is None


@pytest.mark.slow
def test_generate_and_train_run_without_extras_and_serve_names_its_extra(tmp_path, tiny_model_path):
    generated = run_without_extras("generate", "a red circle", "--model", str(tiny_model_path), "--out",
                                   str(tmp_path / "images"))
    assert generated.returncode == 0, generated.stderr
    assert list((tmp_path / "images").glob("*.png"))
    trained = run_without_extras("train", "--model", "gan-tiny", "--batch-size", "4", "--dry-run", "--out",
                                 str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    served = run_without_extras("serve", "--model", str(tiny_model_path))
    assert served.returncode == 2
    assert served.stderr.strip().splitlines() == [
        "llmimg serve: error: this needs the `serve` extra (uvicorn is not installed): pip install 'llmimg[serve]'"]
