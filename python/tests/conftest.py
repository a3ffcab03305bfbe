"""Shared by the Python tests: where the fixtures are, and a reader for cases.safetensors (numpy only, so that the
expected values do not pass through the library under test)."""
import json
import os
import pathlib
import struct

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(os.environ.get("REMBERT_FIXTURES_DIR", REPO / "tests" / "fixtures"))
TRAINED_LM = FIXTURES / "trained" / "lm"

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


@pytest.fixture(scope="session")
def cases():
    manifest = json.loads((FIXTURES / "cases.json").read_text())
    return manifest, read_safetensors(FIXTURES / "cases.safetensors")


def read_jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
