#!/usr/bin/env python3
"""Gathers the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from tests/fixtures.

    /usr/bin/python3 scripts/fuzz-seeds.py          # rewrites tests/fuzz/corpus/ (the result is committed)

The fixtures are too big to be seeds as they are (libFuzzer mutates inputs of at most -max_len bytes, a few KiB
here), so the script cuts them down: the smallest tensors of each safetensors file with their header, the
fixture vocabulary shortened in tokenizer.json and sentencepiece.model (without the 300 KiB normalization map),
the JSON files as they are, the texts of the tokenizer cases, the request bodies of tests/server_test.cc. The
pytorch_model.bin seeds are written with torch (Debian's python3-torch) when it is installed; without it they are
left as committed. Seeds are named by the hash of their content, so running the script twice changes nothing.
Also writes tests/fuzz/sentencepiece-300.model, the shortened fixture vocabulary fuzz_tokenizer_config loads.
"""
import base64
import hashlib
import io
import json
import os
import re
import shutil
import struct
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def fixture(*parts):
    return os.path.join(FIX, *parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Corpus:
    def __init__(self, target, keep=False):
        self.dir = os.path.join(OUT, target)
        if os.path.isdir(self.dir) and not keep:
            shutil.rmtree(self.dir)
        os.makedirs(self.dir, exist_ok=True)

    def add(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)


def fixture_files(name):
    out = []
    for dirpath, _, files in os.walk(FIX):
        out += [os.path.join(dirpath, f) for f in files if f == name]
    return sorted(out)


def unique_contents(paths):
    seen = {}
    for p in paths:
        seen.setdefault(read(p), p)
    return list(seen)


# --- safetensors -------------------------------------------------------------------------------------------------

def safetensors_header(path):
    data = read(path)
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def build_safetensors(entries, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    body = b""
    for name, (dtype, shape, raw) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + body


def safetensors_seeds():
    c = Corpus("safetensors")
    for path in fixture_files("model.safetensors") + [fixture("cases.safetensors")]:
        header, body = safetensors_header(path)
        meta = header.pop("__metadata__", None)
        small = sorted(header.items(), key=lambda kv: (kv[1]["data_offsets"][1] - kv[1]["data_offsets"][0], kv[0]))
        entries = {}
        for name, e in small[:4]:
            b, end = e["data_offsets"]
            entries[name] = (e["dtype"], e["shape"], body[b:end])
        c.add(build_safetensors(entries, meta))
    # Every dtype, an empty tensor and a scalar.
    c.add(build_safetensors({"f16": ("F16", [2], b"\x00\x3c\x00\xc0"), "bf16": ("BF16", [1, 2], b"\x80\x3f\x00\x40"),
                             "i64": ("I64", [1], struct.pack("<q", -7)), "bool": ("BOOL", [3], b"\x01\x00\x01"),
                             "empty": ("F32", [0, 4], b""), "scalar": ("F64", [], struct.pack("<d", 0.5)),
                             "u8": ("U8", [2], b"\x00\xff"), "i8": ("I8", [1], b"\x80"), "i16": ("I16", [1], b"\x01\x00"),
                             "i32": ("I32", [1], b"\x01\x00\x00\x00")}, {"format": "pt"}))


def safetensors_index_seeds():
    c = Corpus("safetensors_index")
    for content in unique_contents(fixture_files("model.safetensors.index.json")):
        c.add(content)
        index = json.loads(content)
        names = sorted(index["weight_map"])
        c.add(json.dumps({"metadata": index.get("metadata", {}), "weight_map": {n: index["weight_map"][n] for n in names[:3]}}))


# --- pytorch_model.bin -------------------------------------------------------------------------------------------

def torch_seeds():
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: the torch_bin and pickle seeds are left as they are", file=sys.stderr)
        return
    import collections
    import torch
    torch.manual_seed(0)
    dicts = []
    sd = torch.load(fixture("models", "mlm", "pytorch_model.bin"), map_location="cpu")
    small = sorted(sd.items(), key=lambda kv: (kv[1].numel(), kv[0]))[:4]
    dicts.append(collections.OrderedDict((k, v.clone()) for k, v in small))
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    dicts.append(collections.OrderedDict([
        ("contiguous", base.clone()), ("transposed", base.t()), ("strided", base[:, ::2]),
        ("offset", base.view(-1)[5:9]), ("half", base.half()), ("bf16", base.bfloat16()),
        ("ids", torch.tensor([1, 2, 3], dtype=torch.int64)), ("mask", torch.tensor([True, False])),
        ("param", torch.nn.Parameter(torch.ones(2))), ("scalar", torch.tensor(3.5, dtype=torch.float64))]))
    c_bin, c_pkl = Corpus("torch_bin", keep=False), Corpus("pickle", keep=False)
    for d in dicts:
        for legacy in (False,):
            buf = io.BytesIO()
            torch.save(d, buf, _use_new_zipfile_serialization=not legacy)
            data = buf.getvalue()
            c_bin.add(data)
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    if name.endswith("data.pkl"):
                        c_pkl.add(z.read(name))
    # The pickle of the whole fixture (small: the storages are separate entries).
    with zipfile.ZipFile(fixture("models", "mlm", "pytorch_model.bin")) as z:
        for name in z.namelist():
            if name.endswith("data.pkl"):
                c_pkl.add(z.read(name))


# --- JSON files ----------------------------------------------------------------------------------------------------

def config_seeds():
    c = Corpus("config")
    for content in unique_contents(fixture_files("config.json")):
        c.add(content)
    c.add('{"model_type": "rembert", "pruned_heads": {"0": [1, 2]}, "id2label": {"0": "NEG", "1": "POS"}, '
          '"label2id": {"NEG": 0, "POS": 1}, "problem_type": "regression", "torch_dtype": "bfloat16", "custom": [1, {}]}')


def small_tokenizer_json(j, vocab_size=300):
    j = json.loads(json.dumps(j))
    norm = j.get("normalizer")
    if norm and norm.get("type") == "Sequence":
        norm["normalizers"] = [n for n in norm["normalizers"] if n.get("type") != "Precompiled"]
    elif norm and norm.get("type") == "Precompiled":
        j["normalizer"] = None
    j["model"]["vocab"] = j["model"]["vocab"][:vocab_size]
    keep = {t["id"] for t in j.get("added_tokens", [])}
    j["added_tokens"] = [t for t in j.get("added_tokens", []) if t["id"] < vocab_size or t["id"] in keep]
    return json.dumps(j, ensure_ascii=False)


def tokenizer_json_seeds():
    c = Corpus("tokenizer_json")
    c.add(read(fixture("tokenizer_extra", "general", "tokenizer.json")))
    for content in unique_contents(fixture_files("tokenizer.json")):
        c.add(small_tokenizer_json(json.loads(content)))


def tokenizer_config_seeds():
    c = Corpus("tokenizer_config")
    for dirpath, _, files in os.walk(FIX):
        if "tokenizer_config.json" in files:
            config = read(os.path.join(dirpath, "tokenizer_config.json"))
            c.add(config)
            if "special_tokens_map.json" in files:
                c.add(config + b"\0" + read(os.path.join(dirpath, "special_tokens_map.json")))
    c.add('{"do_lower_case": true, "model_max_length": 1e30, "added_tokens_decoder": {"5": {"content": "<x>", '
          '"lstrip": true, "rstrip": false, "single_word": true, "normalized": true, "special": false}}, '
          '"extra_special_tokens": {"a": "<a>"}}\0{"mask_token": {"content": "[MASK]", "lstrip": true}, '
          '"additional_special_tokens": ["<b>", {"content": "<c>"}]}')


# --- sentencepiece.model -----------------------------------------------------------------------------------------

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_varint(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def proto_fields(data):
    """(field number, wire type, raw bytes of the whole field) of a protobuf message."""
    i, out = 0, []
    while i < len(data):
        start = i
        key, i = read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = read_varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = read_varint(data, i)
            i += n
        elif wire == 5:
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.append((field, wire, data[start:i]))
    return out


def sentencepiece_seeds():
    c = Corpus("sentencepiece")
    for content in unique_contents(fixture_files("sentencepiece.model")):
        for pieces in (40, 300):
            out, kept = b"", 0
            for field, _, raw in proto_fields(content):
                if field == 1:  # pieces
                    if kept < pieces:
                        out += raw
                        kept += 1
                elif field == 2:  # trainer_spec
                    out += raw
                elif field == 3:  # normalizer_spec: identity instead of the 300 KiB precompiled map
                    spec = b"\x0a" + varint(8) + b"identity" + b"\x18\x01\x20\x01\x28\x01"
                    out += b"\x1a" + varint(len(spec)) + spec
            c.add(out)
            if content == read(fixture("tokenizer", "sentencepiece.model")) and pieces == 300:
                # The slow vocabulary of fuzz_tokenizer_config: the fixture's takes 20 ms to load under ASan.
                with open(os.path.join(ROOT, "tests", "fuzz", "sentencepiece-300.model"), "wb") as f:
                    f.write(out)


# --- texts and request bodies --------------------------------------------------------------------------------------

def tokenize_seeds():
    c = Corpus("tokenize")
    texts = []
    for path in (fixture("tokenizer", "tokenizer_cases.json"), fixture("tokenizer_extra", "fast_awkward_inputs.json"),
                 fixture("tokenizer_extra", "general_cases.json")):
        for case in json.loads(read(path))["cases"]:
            for key in ("text", "pair"):
                if isinstance(case.get(key), str) and len(case[key].encode()) < 512:
                    texts.append(case[key])
    seen = []
    for t in texts:
        if t not in seen:
            seen.append(t)
    # The first byte picks the encode options (tests/fuzz/harness.h); a NUL separates a pair.
    for k, t in enumerate(seen[:80]):
        opt = (k * 37) & 0xFF
        pair = "\0" + seen[(k + 1) % len(seen)] if opt & 4 else ""
        c.add(bytes([opt]) + (t + pair).encode("utf-8"))


def server_seeds():
    c = Corpus("server_requests")
    source = read(os.path.join(ROOT, "tests", "server_test.cc")).decode("utf-8")
    for body in re.findall(r'R"\((\{.*?\})\)"', source):
        try:
            json.loads(body)
        except ValueError:
            continue
        c.add(body)
    for body in [
        {"inputs": ["a", [1, 2, 3]], "truncate": True, "truncation_direction": "Left", "pooling": "mean", "dimensions": 4,
         "normalize": False},
        {"input": ["x", "y"], "encoding_format": "base64", "model": "m", "user": "u"},
        {"inputs": [["q", "p"], ["t"]], "raw_scores": True},
        {"query": "q", "texts": ["a", "b"], "return_text": True, "raw_scores": False},
        {"inputs": "t", "add_special_tokens": False},
        {"ids": [[1, 2], [3]], "skip_special_tokens": False},
        {"inputs": "a [MASK] b", "parameters": {"top_k": 2, "targets": ["x", "y"]}},
        {"inputs": ["t"], "parameters": {"aggregation_strategy": "simple", "ignore_labels": ["O"], "stride": 2}},
        {"inputs": [{"question": "q", "context": "c"}], "parameters": {"top_k": 2, "max_answer_len": 3, "max_seq_len": 8,
                                                                       "doc_stride": 2, "handle_impossible_answer": True,
                                                                       "align_to_words": False}},
        {"question": "q", "context": "c"},
        {"inputs": "p", "stream": True, "parameters": {"max_new_tokens": 3, "do_sample": True, "temperature": 0.5,
                                                       "top_k": 4, "top_p": 0.9, "seed": 7, "return_full_text": False}},
    ]:
        c.add(json.dumps(body))


def main():
    safetensors_seeds()
    safetensors_index_seeds()
    torch_seeds()
    config_seeds()
    tokenizer_json_seeds()
    tokenizer_config_seeds()
    sentencepiece_seeds()
    tokenize_seeds()
    server_seeds()
    for target in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, target))
        size = sum(os.path.getsize(os.path.join(OUT, target, f)) for f in files)
        print("%-18s %3d seeds, %7d bytes" % (target, len(files), size))


if __name__ == "__main__":
    main()
