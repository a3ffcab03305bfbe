"""The two examples of transformers' RemBERT page, with only the import line changed and the model path replaced by
the trained masked LM (python/examples/), run as scripts from the repository root with return_tensors="pt"."""
import ast
import os
import pathlib
import subprocess
import sys

import pytest

import rembert
from conftest import REPO

EXAMPLES = REPO / "python" / "examples"
TEXT = "Plants create [MASK] through a process known as photosynthesis."


def run(script):
    env = dict(os.environ)
    return subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module", autouse=True)
def needs_torch():
    pytest.importorskip("torch", reason="the examples import torch: install Debian's python3-torch")


def test_masked_lm_example_prints_the_pipeline_top1():
    done = run("masked_lm.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Predicted word: ")
    word = done.stdout[len("Predicted word: "):].strip()
    top = rembert.pipeline("fill-mask", model=str(REPO / "tests/fixtures/trained/lm"))(TEXT)[0]
    assert word == top["token_str"].strip()


def test_fill_mask_example_runs_and_its_last_expression_is_transformers_shaped():
    done = run("fill_mask_pipeline.py")
    assert done.returncode == 0, done.stderr
    # The page shows the value of the last line; evaluate the script the same way to look at it.
    tree = ast.parse((EXAMPLES / "fill_mask_pipeline.py").read_text())
    last = ast.Expression(tree.body.pop().value)
    scope = {}
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        exec(compile(tree, "fill_mask_pipeline.py", "exec"), scope)
        result = eval(compile(last, "fill_mask_pipeline.py", "eval"), scope)
    finally:
        os.chdir(cwd)
    assert len(result) == 5 and all(list(p) == ["score", "token", "token_str", "sequence"] for p in result)
    # A piece without "▁" joins the word before it ("Plants creates through ..."), so look for the piece only.
    assert all(p["sequence"].startswith("Plants create") and p["token_str"] in p["sequence"] for p in result)
    assert all(type(p["score"]) is float for p in result)


def test_examples_differ_from_the_page_only_in_import_and_model():
    # The page's code, for the record: the files must keep it line for line.
    page = {
        "masked_lm.py": ["import torch", "from transformers import AutoModelForMaskedLM, AutoTokenizer"],
        "fill_mask_pipeline.py": ["import torch", "from transformers import pipeline"],
    }
    for script, head in page.items():
        lines = pathlib.Path(EXAMPLES / script).read_text().splitlines()
        assert lines[0] == head[0]
        assert lines[1] == head[1].replace("transformers", "rembert")
