// Reading tokenizer.json in one pass with nlohmann's event (SAX) parser: a tree for the small parts, and the
// Unigram list at model.vocab streamed straight into pieces and scores. google/rembert's list has 250k
// [piece, score] pairs; building them as tree nodes and copying them out again was most of its load time.
#include <nlohmann/json.hpp>

#include "rembert/error.h"
#include "tokenizer/fast_components.h"

namespace rembert::tok {
namespace {

using Json = nlohmann::json;

class TokenizerJsonReader {
 public:
  explicit TokenizerJsonReader(std::optional<UnigramVocab>& vocab) : vocab_(vocab) {}

  Json take_root() { return std::move(root_); }
  const std::string& error() const { return error_; }

  // --- nlohmann::json_sax interface ---
  bool null() { return value(Json(nullptr)); }
  bool boolean(bool b) { return value(Json(b)); }
  bool number_integer(Json::number_integer_t n) { return number(static_cast<double>(n), Json(n)); }
  bool number_unsigned(Json::number_unsigned_t n) { return number(static_cast<double>(n), Json(n)); }
  bool number_float(Json::number_float_t n, const std::string&) { return number(n, Json(n)); }
  bool binary(Json::binary_t& b) { return value(Json::binary(std::move(b))); }

  bool string(std::string& s) {
    if (entry_ == Entry::kPiece) {
      vocab_->pieces.push_back(std::move(s));
      entry_ = Entry::kScore;
      return true;
    }
    return value(Json(std::move(s)));
  }

  bool start_object(std::size_t) {
    if (entry_ != Entry::kNone) bad_entry();
    open(value_slot(Json::object()));
    return true;
  }
  bool key(std::string& k) {
    key_ = std::move(k);
    if (stack_.size() == 1) root_key_ = key_;
    return true;
  }
  bool end_object() {
    close();
    return true;
  }

  bool start_array(std::size_t) {
    if (entry_ == Entry::kBetween) {
      entry_ = Entry::kPiece;
      return true;
    }
    if (entry_ != Entry::kNone) bad_entry();
    if (stack_.size() == 2 && root_key_ == "model" && key_ == "vocab" && stack_.back()->is_object()) {
      vocab_.emplace();
      entry_ = Entry::kBetween;
      return true;
    }
    open(value_slot(Json::array()));
    return true;
  }
  bool end_array() {
    switch (entry_) {
      case Entry::kBetween:  // the end of the vocab list
        entry_ = Entry::kNone;
        return true;
      case Entry::kDone:
        entry_ = Entry::kBetween;
        return true;
      case Entry::kPiece:
      case Entry::kScore:
        bad_entry();
      case Entry::kNone:
        break;
    }
    close();
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

 private:
  // Where the reader is inside the vocab list: between entries, or in [piece, score] expecting the piece, the
  // score, or the closing bracket.
  enum class Entry { kNone, kBetween, kPiece, kScore, kDone };

  bool number(double score, Json j) {
    if (entry_ == Entry::kScore) {
      vocab_->scores.push_back(score);
      entry_ = Entry::kDone;
      return true;
    }
    return value(std::move(j));
  }
  bool value(Json j) {
    if (entry_ != Entry::kNone) bad_entry();
    value_slot(std::move(j));
    return true;
  }
  // Places `j` where the parser is (the root, the current object's key, or the end of the current array).
  Json* value_slot(Json j) {
    if (stack_.empty()) {
      root_ = std::move(j);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_object()) {
      Json& slot = parent[key_];
      slot = std::move(j);
      return &slot;
    }
    parent.push_back(std::move(j));
    return &parent.back();
  }
  void open(Json* container) { stack_.push_back(container); }
  void close() { stack_.pop_back(); }
  [[noreturn]] void bad_entry() const {
    const size_t index = vocab_->scores.size() - (entry_ == Entry::kDone ? 1 : 0);
    throw Error("Unigram vocab entry " + std::to_string(index) + " must be [piece, score]");
  }

  std::optional<UnigramVocab>& vocab_;
  Json root_;
  std::vector<Json*> stack_;  // open objects and arrays; pointers stay valid while their children are open
  std::string key_, root_key_;
  Entry entry_ = Entry::kNone;
  std::string error_;
};

}  // namespace

Json parse_tokenizer_json(std::string_view text, const std::string& path, std::optional<UnigramVocab>& vocab) {
  vocab.reset();
  TokenizerJsonReader reader(vocab);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  if (!ok) throw Error(path + ": invalid JSON: " + reader.error());
  return reader.take_root();
}

}  // namespace rembert::tok
