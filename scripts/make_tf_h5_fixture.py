#!/usr/bin/env python3
"""Writes TensorFlow checkpoints (tf_model.h5) of the fixture models, in the layout Keras `save_weights` gives the
transformers TF classes, for the tests of rembert.cpp's tf_model.h5 loader (tests/tf_h5_test.cc).

    /usr/bin/python3 scripts/make_tf_h5_fixture.py            # all of tests/fixtures/tf/ from tests/fixtures/models/

Each tests/fixtures/tf/<name>/ gets tf_model.h5 (the weights of tests/fixtures/models/<source>/model.safetensors
under their Keras names, Dense kernels transposed to [in, out]), config.json and the tokenizer files copied: the
forward through it must equal the source model's recorded outputs. Needs python3-h5py and numpy only (no
TensorFlow): the h5 is written the way Keras' legacy h5 format writes it:
  - root attrs `layer_names` (the model's top-level layers: "rembert", "mlm___cls", "classifier", ...),
    `backend`, `keras_version`;
  - one group per layer with attr `weight_names` (the full variable names, "tf_rem_bert_for_masked_lm/rembert/
    embeddings/word_embeddings/weight:0", ...), and each weight as a dataset at <layer>/<weight name>.
Names follow modeling_tf_rembert.py; transformers maps them back with convert_tf_weight_name_to_pt_weight_name.
"""
import json
import os
import shutil
import struct
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "tf")
TOKENIZER_FILES = ["sentencepiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

# Keras names a subclassed model after its class in snake case.
MODEL_NAMES = {
    "RemBertModel": "tf_rem_bert_model",
    "RemBertForMaskedLM": "tf_rem_bert_for_masked_lm",
    "RemBertForCausalLM": "tf_rem_bert_for_causal_lm",
    "RemBertForSequenceClassification": "tf_rem_bert_for_sequence_classification",
    "RemBertForMultipleChoice": "tf_rem_bert_for_multiple_choice",
    "RemBertForTokenClassification": "tf_rem_bert_for_token_classification",
    "RemBertForQuestionAnswering": "tf_rem_bert_for_question_answering",
}

# name -> (source model folder, dtype stored in the h5)
FIXTURES = {
    "base": ("base", "float32"),            # RemBertModel (with pooler): PyTorch names without "rembert."
    "mlm": ("mlm", "float32"),              # the LM head: mlm___cls/predictions/decoder/{weight,bias}
    "seqcls": ("seqcls", "float32"),
    "seqcls_fp16": ("seqcls_fp16", "float16"),
    "base_bf16": ("base_bf16", "bfloat16"),  # an HDF5 float type with bfloat16's fields (8 exponent, 7 mantissa)
}


def read_safetensors(path):
    """{name: numpy array}; BF16 comes back as the raw uint16 bits."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    dtypes = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (np.frombuffer(body[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"]), info["dtype"])
    return out


def keras_name(pt_name, model_name):
    """(top-level layer, full variable name, transpose) of a PyTorch state-dict name."""
    parts = pt_name.split(".")
    if parts[0] == "rembert":
        parts = parts[1:]
    if parts[0] in ("embeddings", "encoder", "pooler"):
        layer, path = "rembert", parts
    elif parts[0] == "cls":
        layer, path = "mlm___cls", parts[1:]
    else:  # classifier, qa_outputs
        layer, path = parts[0], parts[1:]
    path = list(path)
    # encoder.layer.N -> encoder/layer_._N (a Keras list of layers)
    for i in range(len(path) - 1):
        if path[i] == "layer" and path[i + 1].isdigit():
            path[i:i + 2] = ["layer_._" + path[i + 1]]
            break
    last, owner = path[-1], path[-2] if len(path) > 1 else ""
    transpose = False
    if owner == "LayerNorm":
        path[-1] = "gamma" if last == "weight" else "beta"
    elif owner in ("position_embeddings", "token_type_embeddings"):
        path[-1] = "embeddings"
    elif owner in ("word_embeddings", "decoder"):
        pass  # add_weight(name="weight") / "decoder/weight", "decoder/bias": stored as PyTorch holds them
    elif last == "weight":
        path[-1] = "kernel"  # Dense: [in, out]
        transpose = True
    return layer, "/".join([model_name, layer] + path) + ":0", transpose


def bfloat16_type():
    t = h5py.h5t.IEEE_F16LE.copy()
    t.set_fields(15, 7, 8, 0, 7)  # sign bit, exponent at bit 7 (8 bits), mantissa at bit 0 (7 bits)
    t.set_ebias(127)
    return t


def write_dataset(group, name, array, dtype):
    if dtype == "bfloat16":
        tid = bfloat16_type()
        lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
        lcpl.set_create_intermediate_group(True)
        space = h5py.h5s.create_simple(array.shape)
        dset = h5py.h5d.create(group.id, name.encode(), tid, space, lcpl=lcpl)
        dset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(array.view(np.uint16)), mtype=tid)
    else:
        group.create_dataset(name, data=np.ascontiguousarray(array.astype(dtype)))


def to_stored(array, st_dtype, dtype):
    """The safetensors tensor in the h5's dtype, without rounding twice (bf16/f16 sources are kept bit for bit)."""
    if dtype == "bfloat16":
        if st_dtype == "BF16":
            return array
        bits = array.astype(np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
    if st_dtype == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(dtype)


def make(name, source, dtype):
    src = os.path.join(MODELS, source)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    model_name = MODEL_NAMES[config["architectures"][0]]
    tensors = read_safetensors(os.path.join(src, "model.safetensors"))
    layers = {}
    for pt_name in sorted(tensors):
        array, st_dtype = tensors[pt_name]
        layer, tf_name, transpose = keras_name(pt_name, model_name)
        value = to_stored(array, st_dtype, dtype)
        if transpose:
            value = np.ascontiguousarray(value.T)
        layers.setdefault(layer, []).append((tf_name, value))

    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    with h5py.File(os.path.join(out, "tf_model.h5"), "w") as f:
        order = [l for l in ("rembert", "mlm___cls", "classifier", "qa_outputs") if l in layers]
        f.attrs["layer_names"] = np.array([l.encode() for l in order])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.11.0"
        for layer in order:
            g = f.create_group(layer)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in layers[layer]])
            for tf_name, value in layers[layer]:
                write_dataset(g, tf_name, value, dtype)
    for file in ["config.json"] + TOKENIZER_FILES:
        shutil.copyfile(os.path.join(src, file), os.path.join(out, file))
    print(f"wrote {out}/tf_model.h5 ({dtype}, {sum(len(v) for v in layers.values())} weights, from models/{source})")


def main():
    names = sys.argv[1:] or list(FIXTURES)
    for name in names:
        make(name, *FIXTURES[name])


if __name__ == "__main__":
    main()
