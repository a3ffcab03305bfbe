// Helpers shared by the pipelines: model inputs from an encoding, JSON numbers as Python prints them, float32
// softmax as numpy/torch compute it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rembert/model.h"
#include "rembert/tokenizer.h"

namespace rembert::pipelines {

// The model inputs of one encoded text (a batch of one): input_ids, token_type_ids and attention_mask, [1, S].
ForwardInputs inputs_of(const Encoding& enc);

// A double as Python's json.dumps writes it (repr: the shortest string that round-trips; exponent form below 1e-4
// and from 1e16; NaN / Infinity / -Infinity).
std::string json_number(double value);

// JSON string literal with Python's json.dumps escaping (ensure_ascii: non-ASCII as \uXXXX, surrogate pairs).
// Ill-formed UTF-8 is written as one \ufffd per maximal ill-formed subpart (core/utf8.h), as the code-point
// functions below count it.
std::string json_string(const std::string& utf8);

// Softmax of float32 values computed in float32 (exp(x - max) / sum), as torch and numpy do on float32 tensors.
std::vector<float> softmax_f32(const float* logits, int64_t n);

// Number of Unicode code points in UTF-8 text (Python's len() of a str).
int64_t code_point_count(const std::string& utf8);
// Byte offset of code point `index` (clamped to the end).
size_t byte_offset_of_code_point(const std::string& utf8, int64_t index);
// Python's text[start:end] with code-point indices.
std::string code_point_slice(const std::string& utf8, int64_t start, int64_t end);

}  // namespace rembert::pipelines
