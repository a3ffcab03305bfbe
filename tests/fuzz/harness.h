// The bodies of the fuzz targets, one per parser (tests/fuzz/fuzz_<name>.cc wraps each in LLVMFuzzerTestOneInput).
// Also linked into the gtest suite, which runs the seed corpora and every saved crash (tests/fuzz/regressions)
// through them with the ordinary build, so a fixed crash stays fixed without clang.
//
// Each one feeds the input to the parser and, when it is accepted, uses the result (touches tensor bytes,
// encodes and decodes text) so that a bad value surfaces under the sanitizers. The clean rejection of the parser
// (rembert::Error; for the server schemas also its ApiError and nlohmann::json's exceptions, which the server
// answers with a 422) is caught; anything else escapes, which libFuzzer reports as a crash. Broken invariants of an
// accepted input (a config that does not read back, offsets outside the text) abort.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rembert::fuzz {

using Target = void (*)(const uint8_t* data, size_t size);

void safetensors(const uint8_t* data, size_t size);        // model.safetensors
void safetensors_index(const uint8_t* data, size_t size);  // model.safetensors.index.json (+ the fixture shards)
void torch_bin(const uint8_t* data, size_t size);          // pytorch_model.bin (zip + pickle)
void pickle(const uint8_t* data, size_t size);             // data.pkl of pytorch_model.bin, in memory
void config(const uint8_t* data, size_t size);             // config.json
void tokenizer_json(const uint8_t* data, size_t size);     // tokenizer.json (fast tokenizer)
void sentencepiece(const uint8_t* data, size_t size);      // sentencepiece.model (slow tokenizer)
// tokenizer_config.json, then after a NUL byte (when there is one) special_tokens_map.json; loaded by the fast
// tokenizer of tokenizer_extra/general and the slow one of the shortened fixture vocabulary (sentencepiece-300.model).
void tokenizer_config(const uint8_t* data, size_t size);
void server_requests(const uint8_t* data, size_t size);    // a request body, through every route's schema
// Arbitrary bytes encoded by the fixture tokenizers (fast and slow); the first byte also picks encode options.
void tokenize(const uint8_t* data, size_t size);

struct NamedTarget {
  const char* name;  // as in fuzz_<name> and tests/fuzz/{corpus,regressions}/<name>
  Target run;
};
const std::vector<NamedTarget>& all_targets();

}  // namespace rembert::fuzz
