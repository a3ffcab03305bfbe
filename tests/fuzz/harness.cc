#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "io/pickle.h"
#include "rembert/config.h"
#include "rembert/error.h"
#include "rembert/safetensors.h"
#include "rembert/tokenizer.h"
#include "schemas.h"

#ifndef REMBERT_FIXTURES_DIR
#error "REMBERT_FIXTURES_DIR must name tests/fixtures"
#endif

namespace rembert::fuzz {

namespace {

namespace fs = std::filesystem;

const std::string kFixtures = REMBERT_FIXTURES_DIR;

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz: broken invariant: %s\n", what.c_str());
  std::abort();
}

// A folder of this process for the parsers that read files (removed at exit).
const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/rembert-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) broken("cannot create a temporary folder " + pattern);
    static const std::string removed = pattern;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(removed, ec);
    });
    return pattern;
  }();
  return dir;
}

// A subfolder of the scratch folder, created on first use, with `links` (name -> fixture file) symlinked into it.
std::string folder(const std::string& name, const std::vector<std::pair<std::string, std::string>>& links = {}) {
  const std::string dir = scratch_dir() + "/" + name;
  std::error_code ec;
  if (fs::create_directory(dir, ec)) {
    for (const auto& [link, target] : links) fs::create_symlink(kFixtures + "/" + target, dir + "/" + link);
  }
  return dir;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) broken("cannot write " + path);
}

void write(const std::string& path, std::string_view text) {
  write(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

void remove_file(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

// Reads every byte of the accepted tensors (ASan sees a view past its mapping or buffer).
void touch(const TensorMap& tensors) {
  volatile uint8_t sink = 0;
  for (const auto& [name, t] : tensors) {
    const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
    const size_t n = t.nbytes();
    if (n > 0 && !bytes) broken("tensor '" + name + "' has bytes but no data");
    for (size_t i = 0; i < n; ++i) sink = static_cast<uint8_t>(sink ^ bytes[i]);
  }
  (void)sink;
}

int64_t code_points(std::string_view utf8) {
  int64_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

// What every encoding must satisfy: parallel vectors, offsets inside the text.
void check_encoding(const Encoding& e, bool fast, std::string_view text, std::string_view pair) {
  const size_t n = e.input_ids.size();
  if (e.token_type_ids.size() != n || e.attention_mask.size() != n || e.special_tokens_mask.size() != n ||
      e.tokens.size() != n) {
    broken("encoding vectors of different lengths");
  }
  if (!fast) return;
  if (e.offsets.size() != n) broken("fast encoding: " + std::to_string(e.offsets.size()) + " offsets for " +
                                    std::to_string(n) + " tokens");
  const int64_t limit = std::max(code_points(text), code_points(pair));
  for (const auto& [start, end] : e.offsets) {
    if (start < 0 || start > end || end > limit) {
      broken("offset (" + std::to_string(start) + ", " + std::to_string(end) + ") outside a text of " +
             std::to_string(limit) + " code points");
    }
  }
}

// Encodes and decodes a few texts with a tokenizer that was just loaded from fuzzed files.
void exercise(const Tokenizer& tok, const std::vector<std::string>& extra_texts) {
  std::vector<std::string> texts = {"Hello world! [MASK] is a [CLS] test.", "", " ", "unaffable 123 \xC3\xA9t\xC3\xA9"};
  texts.insert(texts.end(), extra_texts.begin(), extra_texts.end());
  for (const std::string& text : texts) {
    try {
      const Encoding e = tok.encode(text);
      check_encoding(e, tok.is_fast(), text, "");
      tok.decode(e.input_ids);
      DecodeOptions skip;
      skip.skip_special_tokens = true;
      tok.decode(e.input_ids, skip);
      EncodeOptions o;
      o.max_length = 6;
      o.stride = 2;
      o.return_overflowing_tokens = true;
      o.padding = Padding::MaxLength;
      const std::string pair = "second";
      tok.encode_batch({text, pair}, nullptr, o);
      o.return_overflowing_tokens = false;
      tok.encode(text, &pair, o);
      tok.tokenize(text);
    } catch (const Error&) {
    }
  }
  const int64_t size = tok.size();
  for (int64_t id = 0; id < std::min<int64_t>(size, 64); ++id) {
    try {
      tok.convert_id_to_token(id);
      tok.decode({id, id});
    } catch (const Error&) {
    }
  }
}

std::vector<std::string> special_texts(const Tokenizer& tok) {
  const SpecialTokens& s = tok.special_tokens();
  std::vector<std::string> out;
  for (const std::string* t : {&s.bos, &s.eos, &s.unk, &s.sep, &s.pad, &s.cls, &s.mask}) {
    if (!t->empty()) out.push_back("a " + *t + "b " + *t);
  }
  for (const std::string& t : s.additional) out.push_back("x" + t + " y");
  return out;
}

}  // namespace

void safetensors(const uint8_t* data, size_t size) {
  const std::string path = folder("safetensors") + "/model.safetensors";
  write(path, data, size);
  try {
    touch(read_safetensors(path).tensors);
  } catch (const Error&) {
  }
}

void safetensors_index(const uint8_t* data, size_t size) {
  const std::string dir = folder("safetensors_index", {{"model-00001-of-00002.safetensors",
                                                        "models/mlm_sharded/model-00001-of-00002.safetensors"},
                                                       {"model-00002-of-00002.safetensors",
                                                        "models/mlm_sharded/model-00002-of-00002.safetensors"}});
  write(dir + "/model.safetensors.index.json", data, size);
  try {
    touch(load_checkpoint(dir).tensors);
  } catch (const Error&) {
  }
}

void torch_bin(const uint8_t* data, size_t size) {
  const std::string path = folder("torch_bin") + "/pytorch_model.bin";
  write(path, data, size);
  try {
    touch(read_torch_bin(path));
  } catch (const Error&) {
  }
}

void pickle(const uint8_t* data, size_t size) {
  try {
    const pickle::Unpickled u = pickle::unpickle(data, size, "fuzz.pkl");
    if (!u.root) broken("unpickle returned no root");
    pickle::kind_name(*u.root);
  } catch (const Error&) {
  }
}

void config(const uint8_t* data, size_t size) {
  RemBertConfig c;
  try {
    c = RemBertConfig::from_json_string(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const Error&) {
    return;
  }
  // An accepted config is written as save_pretrained would and must read back to the same file.
  const std::string written = c.to_json_string();
  RemBertConfig again;
  try {
    again = RemBertConfig::from_json_string(written, "written config.json");
  } catch (const Error& e) {
    broken(std::string("an accepted config does not read back: ") + e.what() + "\n" + written);
  }
  if (again.to_json_string() != written) broken("an accepted config reads back differently:\n" + written);
  for (const auto& [layer, heads] : c.pruned_heads) c.kept_heads(layer);
}

// The input as a tokenizer's one file in a folder of its own; a tokenizer that loads is then exercised.
template <typename Load>
void load_and_exercise(const char* target, const char* file, const uint8_t* data, size_t size, Load load) {
  const std::string dir = folder(target);
  write(dir + "/" + file, data, size);
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = load(dir);
  } catch (const Error&) {
    return;
  }
  exercise(*tok, special_texts(*tok));
}

void tokenizer_json(const uint8_t* data, size_t size) {
  load_and_exercise("tokenizer_json", "tokenizer.json", data, size,
                    [](const std::string& dir) { return load_fast_tokenizer(dir); });
}

void sentencepiece(const uint8_t* data, size_t size) {
  load_and_exercise("sentencepiece", "sentencepiece.model", data, size,
                    [](const std::string& dir) { return load_slow_tokenizer(dir); });
}

void tokenizer_config(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string fast = folder("tokenizer_config_fast", {{"tokenizer.json", "tokenizer_extra/general/tokenizer.json"}});
  const std::string slow = folder("tokenizer_config_slow", {{"sentencepiece.model", "../fuzz/sentencepiece-300.model"}});
  for (const std::string& dir : {fast, slow}) {
    write(dir + "/tokenizer_config.json", input.substr(0, nul));
    if (nul == std::string_view::npos) {
      remove_file(dir + "/special_tokens_map.json");
    } else {
      write(dir + "/special_tokens_map.json", input.substr(nul + 1));
    }
    std::unique_ptr<Tokenizer> tok;
    try {
      tok = dir == fast ? load_fast_tokenizer(dir) : load_slow_tokenizer(dir);
    } catch (const Error&) {
      continue;
    }
    exercise(*tok, special_texts(*tok));
  }
}

void server_requests(const uint8_t* data, size_t size) {
  using namespace rembert::server;
  json body;
  try {
    body = parse_body(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const ApiError&) {
    return;
  }
  RequestLimits limits;
  limits.max_client_batch_size = 4;
  limits.max_input_length = 16;
  limits.hidden_size = 8;
  auto run = [&](auto&& parse) {
    try {
      parse();
    } catch (const ApiError&) {
    } catch (const json::exception&) {
    } catch (const Error&) {
    }
  };
  run([&] { parse_embed_request(body, limits); });
  run([&] { parse_embed_all_request(body, limits); });
  run([&] { parse_openai_request(body, limits); });
  run([&] { parse_predict_request(body, limits); });
  run([&] { parse_rerank_request(body, limits); });
  run([&] { parse_tokenize_request(body, limits); });
  run([&] { parse_decode_request(body, limits); });
  run([&] { parse_fill_mask_request(body, limits); });
  run([&] { parse_token_classification_request(body, limits); });
  run([&] {
    const QuestionAnsweringRequest r = parse_question_answering_request(body, limits);
    if (!r.options.max_seq_len || *r.options.max_seq_len < 1 || *r.options.max_seq_len > limits.max_input_length) {
      broken("question answering: max_seq_len outside [1, max_input_length]");
    }
  });
  run([&] { parse_generate_request(body, limits, false); });
  run([&] { parse_generate_request(body, limits, true); });
}

void tokenize(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Tokenizer> fast = load_fast_tokenizer(kFixtures + "/tokenizer");
  static const std::unique_ptr<Tokenizer> slow = load_slow_tokenizer(kFixtures + "/tokenizer");
  const std::string whole(reinterpret_cast<const char*>(data), size);
  // The first byte picks the options for the rest: bit 0 special tokens, bit 1 truncation to 1 + (bits 4-5) * 5
  // tokens, bit 2 a pair (the part after the first NUL), bit 3 overflowing windows with stride bits 6-7, and
  // padding to a multiple of 8 with bit 1 clear.
  const uint8_t opt = size > 0 ? data[0] : 0;
  std::string text = size > 0 ? whole.substr(1) : "";
  std::string pair;
  const bool has_pair = (opt & 4) != 0 && text.find('\0') != std::string::npos;
  if (has_pair) {
    pair = text.substr(text.find('\0') + 1);
    text.resize(text.find('\0'));
  }
  EncodeOptions o;
  o.add_special_tokens = (opt & 1) != 0;
  if (opt & 2) {
    o.max_length = 1 + ((opt >> 4) & 3) * 5;
    o.truncation_side = (opt & 0x40) ? Side::Left : Side::Right;
  } else {
    o.padding = Padding::Longest;
    o.pad_to_multiple_of = 8;
  }
  o.return_overflowing_tokens = (opt & 8) != 0;
  o.stride = (opt >> 6) & 3;
  for (const Tokenizer* tok : {fast.get(), slow.get()}) {
    try {
      const Encoding e = tok->encode(whole);
      check_encoding(e, tok->is_fast(), whole, "");
      tok->decode(e.input_ids);
    } catch (const Error&) {
    }
    try {
      const std::vector<std::string> pairs = {pair};
      const BatchEncoding b = tok->encode_batch({text}, has_pair ? &pairs : nullptr, o);
      for (const Encoding& e : b.encodings) {
        check_encoding(e, tok->is_fast(), text, pair);
        DecodeOptions d;
        d.skip_special_tokens = (opt & 0x80) != 0;
        tok->decode(e.input_ids, d);
      }
    } catch (const Error&) {
    }
  }
}

const std::vector<NamedTarget>& all_targets() {
  static const std::vector<NamedTarget> targets = {
      {"safetensors", safetensors}, {"safetensors_index", safetensors_index}, {"torch_bin", torch_bin},
      {"pickle", pickle},           {"config", config},                       {"tokenizer_json", tokenizer_json},
      {"sentencepiece", sentencepiece}, {"tokenizer_config", tokenizer_config}, {"server_requests", server_requests},
      {"tokenize", tokenize}};
  return targets;
}

}  // namespace rembert::fuzz
