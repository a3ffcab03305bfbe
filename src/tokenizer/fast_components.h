// The pipeline components of a tokenizer.json, each with Hugging Face tokenizers' algorithm: normalizers,
// pre-tokenizers, decoders and the Unigram model. Built from the JSON by the make_* factories, which throw
// rembert::Error naming any component type they do not know.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalized_string.h"

namespace rembert::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};
// `j` may be null (no normalizer): returns nullptr.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits every piece further; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<NormalizedString>& pieces) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

// An integer field of tokenizer.json: a JSON integer in the int64 range, never a float (converting 1e300 to an
// integer is undefined behaviour; found by fuzz_tokenizer_json). Throws Error naming `what`.
int64_t json_int(const nlohmann::json& v, const std::string& what);
// The same for the optional field `key` of the object `obj`: `fallback` when it is absent.
int64_t json_int(const nlohmann::json& obj, const char* key, int64_t fallback, const std::string& what);

// A byte trie over the vocabulary, searched for every prefix of a string.
class PrefixTrie {
 public:
  void build(const std::vector<std::string>& keys);  // value of key i is i (later duplicates win)
  int32_t find(std::string_view key) const;          // the value of exactly `key`; -1 when absent
  // Calls f(length, value) for every key that is a prefix of s, shortest first.
  template <typename F>
  void common_prefixes(std::string_view s, F&& f) const {
    uint32_t node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      node = child(node, static_cast<unsigned char>(s[i]));
      if (node == kNone) return;
      if (nodes_[node].value >= 0) f(i + 1, nodes_[node].value);
    }
  }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  struct Node {
    uint32_t first = 0, count = 0, dense = kNone;
    int32_t value = -1;
  };
  std::vector<Node> nodes_;
  std::vector<uint8_t> labels_;
  std::vector<uint32_t> targets_;
  std::vector<uint32_t> dense_;

  uint32_t child(uint32_t node, unsigned char b) const {
    const Node& nd = nodes_[node];
    if (nd.dense != kNone) return dense_[nd.dense * 256 + b];
    for (uint32_t e = nd.first; e < nd.first + nd.count; ++e) {
      if (labels_[e] == b) return targets_[e];
      if (labels_[e] > b) break;
    }
    return kNone;
  }
};

struct ModelToken {
  int64_t id;
  std::string value;
  uint32_t start, end;  // byte offsets in the piece
};

// The [piece, score] list of a Unigram model, in id order.
struct UnigramVocab {
  std::vector<std::string> pieces;
  std::vector<double> scores;
};

// Parses the text of tokenizer.json (`path` names it in errors). The Unigram list at model.vocab is streamed into
// `vocab` and left out of the returned tree: 250k [piece, score] pairs as tree nodes were most of google/rembert's
// load time. `vocab` stays unset when there is no such list.
nlohmann::json parse_tokenizer_json(std::string_view text, const std::string& path,
                                    std::optional<UnigramVocab>& vocab);

// tokenizers' Unigram model (encode_optimized Viterbi, fused unknowns, byte fallback).
class UnigramModel {
 public:
  // `model_json` gives unk_id and byte_fallback; its vocab list arrives separately (see parse_tokenizer_json).
  UnigramModel(const nlohmann::json& model_json, std::optional<UnigramVocab> vocab);
  UnigramModel(const UnigramModel&) = delete;
  UnigramModel& operator=(const UnigramModel&) = delete;
  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const;
  int64_t token_to_id(std::string_view token) const;  // -1 when absent
  const std::string* id_to_token(int64_t id) const;   // nullptr when absent
  size_t size() const { return pieces_.size(); }
  std::optional<int64_t> unk_id() const { return unk_id_; }
  const std::vector<std::string>& pieces() const { return pieces_; }

 private:
  std::vector<std::string> pieces_;
  std::vector<double> scores_;
  PrefixTrie trie_;
  std::optional<int64_t> unk_id_;
  bool byte_fallback_ = false;
  double min_score_ = 0.0;
};

}  // namespace rembert::tok
