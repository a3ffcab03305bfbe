// RemBertTokenizer (slow): PreTrainedTokenizer's tokenize (added-token split with lstrip/rstrip/single_word, optional
// lowercasing), libsentencepiece for the text in between, and the Python encode/truncate/pad/decode logic.
#include <sentencepiece_processor.h>
#include <sys/stat.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <limits>

#include "core/files.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace rembert {
namespace {

class SlowTokenizer : public Tokenizer {
 public:
  explicit SlowTokenizer(const std::string& dir) : vocab_file_(dir + "/sentencepiece.model") {
    if (!tok::file_exists(vocab_file_)) throw Error(dir + ": sentencepiece.model not found");
    sentencepiece::util::Status status;
    try {
      status = sp_.Load(vocab_file_);
    } catch (const std::exception& e) {  // libsentencepiece's trie builder throws on some models (fuzz_sentencepiece)
      throw Error(vocab_file_ + ": cannot load the SentencePiece model: " + e.what());
    }
    if (!status.ok()) throw Error(vocab_file_ + ": cannot load the SentencePiece model: " + status.ToString());
    tok::TokenizerConfig cfg = tok::read_tokenizer_config(dir, /*fast=*/false);
    model_max_length_ = cfg.model_max_length;
    clean_up_tokenization_spaces_ = cfg.clean_up_tokenization_spaces.value_or(true);
    do_lower_case_ = cfg.do_lower_case.value_or(false);
    remove_space_ = cfg.remove_space.value_or(true);
    keep_accents_ = cfg.keep_accents.value_or(true);

    for (const auto& [id, t] : cfg.added_tokens_decoder) add_token(t, id);
    special_ = tok::special_tokens_of(cfg);
    // _add_tokens(all_special_tokens_extended not yet added, special_tokens=True)
    std::vector<AddedToken> extended;
    for (const char* k : tok::kNamedSpecialTokens) {
      auto it = cfg.named.find(k);
      if (it != cfg.named.end()) extended.push_back(it->second);
    }
    for (const auto& t : cfg.additional) extended.push_back(t);
    for (AddedToken t : extended) {
      if (encoder_.count(t.content)) continue;
      t.special = true;
      int64_t id = -1;
      const int piece = sp_.PieceToId(t.content);
      if (piece >= 0 && sp_.IdToPiece(piece) == t.content) {
        id = piece;
      } else {
        id = std::max<int64_t>(sp_.GetPieceSize(), added_tokens_.empty() ? 0 : added_tokens_.rbegin()->first + 1);
      }
      add_token(t, id);
    }
    resolve_special_ids();
    for (const auto& [id, t] : added_tokens_) split_tokens_.push_back(t.content);
  }

  bool is_fast() const override { return false; }

  std::vector<std::string> tokenize(std::string_view text) const override { return split(text, nullptr); }

  int64_t convert_token_to_id(const std::string& token) const override {
    auto it = encoder_.find(token);
    if (it != encoder_.end()) return it->second;
    return sp_.PieceToId(token);
  }

  std::string convert_id_to_token(int64_t id) const override {
    auto it = added_tokens_.find(id);
    if (it != added_tokens_.end()) return it->second.content;
    if (id < 0 || id >= sp_.GetPieceSize()) throw Error("token id " + std::to_string(id) + " is out of range");
    return sp_.IdToPiece(static_cast<int>(id));
  }

  int64_t vocab_size() const override { return sp_.GetPieceSize(); }

  std::map<std::string, int64_t> build_vocab() const override {
    std::map<std::string, int64_t> v;
    for (int64_t i = 0; i < vocab_size(); ++i) v[convert_id_to_token(i)] = i;
    for (const auto& [content, id] : encoder_) v[content] = id;
    return v;
  }

  BatchEncoding encode_batch(const std::vector<std::string>& texts, const std::vector<std::string>* pairs,
                             const EncodeOptions& o) const override {
    tok::check_batch_pairs(texts, pairs);
    const tok::Strategy s = tok::resolve_strategy(o, *this);
    if (o.return_overflowing_tokens && s.truncation == Truncation::LongestFirst && pairs) {
      throw Error("Not possible to return overflowing tokens for pair of sequences with the `longest_first`. Please "
                  "select another truncation strategy than `longest_first`, for instance `only_second` or "
                  "`only_first`.");
    }
    const bool with_offsets = o.return_offsets_mapping;
    const bool windows = o.return_overflowing_tokens && o.overflow_covers_whole_text;
    BatchEncoding batch;
    for (size_t i = 0; i < texts.size(); ++i) {
      Sequence a = sequence_of(texts[i], with_offsets), b;
      if (pairs) b = sequence_of((*pairs)[i], with_offsets);
      if (!windows) {
        batch.encodings.push_back(prepare_for_model(std::move(a), pairs ? &b : nullptr, s, o));
        continue;
      }
      for (Encoding& e : prepare_windows(std::move(a), pairs ? &b : nullptr, s, o)) {
        batch.encodings.push_back(std::move(e));
        batch.overflow_to_sample_mapping.push_back(static_cast<int64_t>(i));
      }
    }
    // Batch padding (PreTrainedTokenizerBase.pad).
    if (s.padding != Padding::DoNotPad) {
      std::optional<int64_t> target = s.max_length;
      if (s.padding == Padding::Longest) {
        int64_t longest = 0;
        for (const auto& e : batch.encodings) longest = std::max<int64_t>(longest, static_cast<int64_t>(e.input_ids.size()));
        target = longest;
      }
      if (target && o.pad_to_multiple_of && *target % *o.pad_to_multiple_of != 0) {
        target = (*target / *o.pad_to_multiple_of + 1) * *o.pad_to_multiple_of;
      }
      if (target) {
        for (auto& e : batch.encodings) pad(e, *target, o.padding_side, with_offsets);
      }
    }
    return batch;
  }

  std::string decode(const std::vector<int64_t>& ids, const DecodeOptions& o) const override {
    const std::vector<std::string> tokens = convert_ids_to_tokens(ids, o.skip_special_tokens);
    std::vector<std::string> sub_texts;
    std::vector<std::string> current;
    for (const std::string& t : tokens) {
      if (o.skip_special_tokens &&
          std::find(all_special_tokens_.begin(), all_special_tokens_.end(), t) != all_special_tokens_.end()) {
        continue;
      }
      if (is_legacy_added(t)) {
        if (!current.empty()) {
          std::string s = pieces_to_string(current);
          if (!s.empty()) sub_texts.push_back(s);
          current.clear();
        }
        sub_texts.push_back(t);
      } else {
        current.push_back(t);
      }
    }
    if (!current.empty()) sub_texts.push_back(pieces_to_string(current));
    std::string text;
    for (size_t i = 0; i < sub_texts.size(); ++i) {
      if (i) text += ' ';
      text += sub_texts[i];
    }
    if (o.clean_up_tokenization_spaces.value_or(clean_up_tokenization_spaces_)) text = clean_up_tokenization(text);
    return text;
  }

  std::vector<std::string> save_vocabulary(const std::string& dir, const std::string& prefix) const override {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw Error("Vocabulary path (" + dir + ") should be a directory");
    }
    const std::string out = dir + "/" + (prefix.empty() ? "" : prefix + "-") + "sentencepiece.model";
    char* a = ::realpath(vocab_file_.c_str(), nullptr);
    char* b = ::realpath(out.c_str(), nullptr);
    const bool same = a && b && std::string(a) == std::string(b);
    std::free(a);
    std::free(b);
    if (!same) {
      std::string bytes;
      if (tok::file_exists(vocab_file_)) {
        bytes = read_file(vocab_file_);
      } else {
        bytes = sp_.serialized_model_proto();
      }
      std::ofstream f(out, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!f) throw Error("cannot write " + out);
    }
    return {out};
  }

 private:
  void add_token(const AddedToken& t, int64_t id) {
    AddedToken copy = t;
    copy.id = id;
    added_tokens_[id] = copy;
    encoder_[copy.content] = id;
  }

  bool is_legacy_added(const std::string& t) const {
    auto it = encoder_.find(t);
    if (it == encoder_.end()) return false;
    const bool special = std::find(all_special_tokens_.begin(), all_special_tokens_.end(), t) != all_special_tokens_.end();
    if (!special) return true;
    // additional special tokens beyond the vocabulary are decoded as whole strings too
    return std::find(special_.additional.begin(), special_.additional.end(), t) != special_.additional.end() &&
           it->second >= vocab_size();
  }

  std::string pieces_to_string(const std::vector<std::string>& pieces) const {
    std::string out;
    const auto status = sp_.Decode(pieces, &out);
    if (!status.ok()) throw Error("SentencePiece decode failed: " + status.ToString());
    return out;
  }

  using Offsets = std::vector<std::pair<int64_t, int64_t>>;

  // PreTrainedTokenizer.tokenize: the added-token split (leftmost, then longest) with lstrip/rstrip/single_word,
  // SentencePiece on the text between. With `offsets`, each token's [start, end) in code points of `text_in`:
  // SentencePiece's begin/end bytes of each piece in its chunk, traced back through the chunk to the text; an
  // lstrip/rstrip token also covers the whitespace it strips, as tokenizers' added tokens do.
  std::vector<std::string> split(std::string_view text_in, Offsets* offsets) const {
    tok::check_utf8(text_in, "text");
    std::string text(text_in);
    // char_of[i]: the code point of text_in that byte i of `text` comes from.
    std::vector<uint32_t> char_of;
    if (offsets) {
      uint32_t c = 0;
      char_of.resize(text.size());
      for (size_t i = 0; i < text.size(); ++i) {
        if (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++c;
        char_of[i] = c;
      }
    }
    if (do_lower_case_) text = lowercase_outside_specials(text, offsets ? &char_of : nullptr);
    struct Chunk {
      std::string text;
      bool token;
      std::vector<uint32_t> at;  // with offsets: the byte of `text` each byte of the chunk is
    };
    auto chunk_of = [&](size_t begin, size_t end, bool token) {
      Chunk c{text.substr(begin, end - begin), token, {}};
      if (offsets) {
        for (size_t i = begin; i < end; ++i) c.at.push_back(static_cast<uint32_t>(i));
      }
      return c;
    };
    std::vector<Chunk> chunks;
    size_t last = 0;
    for (size_t i = 0; i < text.size();) {
      size_t best = 0;
      for (const std::string& t : split_tokens_) {
        if (t.size() > best && text.compare(i, t.size(), t) == 0) best = t.size();
      }
      if (best > 0) {
        if (i > last) chunks.push_back(chunk_of(last, i, false));
        chunks.push_back(chunk_of(i, i + best, true));
        i += best;
        last = i;
      } else {
        ++i;
      }
    }
    if (last < text.size()) chunks.push_back(chunk_of(last, text.size(), false));
    // Python-strips `c` on one side; the stripped bytes go to `eater` (the token that strips them), in text order.
    auto strip = [&](Chunk& c, bool left, Chunk& eater) {
      const std::string_view kept = tok::python_strip(c.text, left, !left);
      const auto front = static_cast<size_t>(kept.data() - c.text.data());
      const size_t back = c.text.size() - front - kept.size();
      if (offsets) {
        if (left) {
          eater.at.insert(eater.at.end(), c.at.begin(), c.at.begin() + static_cast<std::ptrdiff_t>(front));
          c.at.erase(c.at.begin(), c.at.begin() + static_cast<std::ptrdiff_t>(front));
        } else {
          eater.at.insert(eater.at.begin(), c.at.end() - static_cast<std::ptrdiff_t>(back), c.at.end());
          c.at.resize(c.at.size() - back);
        }
      }
      c.text = std::string(kept);
    };
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (!chunks[i].token) continue;
      const AddedToken& t = added_tokens_.at(encoder_.at(chunks[i].text));
      Chunk* left = i > 0 ? &chunks[i - 1] : nullptr;
      Chunk* right = i + 1 < chunks.size() ? &chunks[i + 1] : nullptr;
      if (t.rstrip && right && !right->text.empty()) strip(*right, true, chunks[i]);
      if (t.lstrip && left && !left->text.empty()) strip(*left, false, chunks[i]);
      if (t.single_word && left && !left->text.empty() && left->text.back() != ' ') {
        left->text += chunks[i].text;
        left->at.insert(left->at.end(), chunks[i].at.begin(), chunks[i].at.end());
        chunks[i].text.clear();
        chunks[i].at.clear();
      } else if (t.single_word && right && !right->text.empty() && right->text.front() != ' ') {
        chunks[i].text += right->text;
        chunks[i].at.insert(chunks[i].at.end(), right->at.begin(), right->at.end());
        right->text.clear();
        right->at.clear();
      }
    }
    // Bytes [begin, end) of a chunk as code points of text_in; an empty span sits where `begin` is.
    auto span = [&](const Chunk& c, size_t begin, size_t end) -> std::pair<int64_t, int64_t> {
      if (c.at.empty()) return {0, 0};
      auto at = [&](size_t byte) -> int64_t {  // the code point byte `byte` of the chunk starts; past the end: after
        return byte < c.at.size() ? char_of[c.at[byte]] : int64_t{char_of[c.at.back()]} + 1;
      };
      const int64_t start = at(begin);
      if (end <= begin) return {start, start};
      return {start, int64_t{char_of[c.at[std::min(end, c.at.size()) - 1]]} + 1};
    };
    std::vector<std::string> out;
    for (const Chunk& c : chunks) {
      if (c.text.empty()) continue;
      if (encoder_.count(c.text)) {
        out.push_back(c.text);
        if (offsets) offsets->push_back(span(c, 0, c.at.size()));
        continue;
      }
      if (!offsets) {
        std::vector<std::string> pieces;
        const auto status = sp_.Encode(c.text, &pieces);
        if (!status.ok()) throw Error("SentencePiece encode failed: " + status.ToString());
        out.insert(out.end(), pieces.begin(), pieces.end());
        continue;
      }
      sentencepiece::ImmutableSentencePieceText spt;
      const auto status = sp_.Encode(c.text, spt.mutable_proto());
      if (!status.ok()) throw Error("SentencePiece encode failed: " + status.ToString());
      for (const auto& piece : spt.pieces()) {
        const auto [begin, end] = like_tokenizers(c.text, piece.piece(), piece.begin(), piece.end());
        out.push_back(piece.piece());
        offsets->push_back(span(c, begin, end));
      }
    }
    return out;
  }

  // SentencePiece's byte span [begin, end) of a piece in `text`, moved to where Hugging Face tokenizers puts the
  // same piece (its Metaspace/normalizer alignment), so that both tokenizers report the same offsets:
  //  - a "▁" piece that SentencePiece starts after whitespace it dropped (leading whitespace, or the space after an
  //    lstrip token) starts at the last of those, which tokenizers turned into the "▁";
  //  - else the dummy prefix "▁" alone, which has an empty span, gets the character it was prepended to;
  //  - a "▁" piece whose span starts with a run of whitespace (collapsed to one "▁") starts at the run's last char
  //    (CR LF counts as one, a grapheme cluster that tokenizers' normalizer maps as a whole);
  //  - a "▁x" piece whose span holds whitespace only (SentencePiece gave the character x came from, a ligature that
  //    normalizes to several letters, to the next piece) also covers that character, as tokenizers does.
  static std::pair<size_t, size_t> like_tokenizers(const std::string& text, const std::string& piece, size_t begin,
                                                   size_t end) {
    static const std::string kMeta = "\xe2\x96\x81";  // "▁"
    begin = std::min(begin, text.size());
    end = std::min(std::max(end, begin), text.size());
    auto char_len = [&](size_t at) {
      size_t len = 1;
      tok::decode_utf8(text, at, &len);
      return len;
    };
    auto space_at = [&](size_t at) {
      size_t len = 1;
      return at < text.size() && tok::is_python_space(tok::decode_utf8(text, at, &len));
    };
    if (piece.compare(0, kMeta.size(), kMeta) != 0) return {begin, end};
    if (begin > 0 && (begin == end || !space_at(begin))) {
      size_t prev = begin - 1;
      while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
      if (space_at(prev)) return {prev, end};
    }
    if (begin == end) return {begin, begin < text.size() ? begin + char_len(begin) : end};
    while (space_at(begin) && begin + char_len(begin) < end && space_at(begin + char_len(begin)) &&
           text.compare(begin, 2, "\r\n") != 0) {
      begin += char_len(begin);
    }
    bool only_space = true;
    for (size_t i = begin; i < end && only_space; i += char_len(i)) only_space = space_at(i);
    if (only_space && piece.size() > kMeta.size() && end < text.size()) end += char_len(end);
    return {begin, end};
  }

  // transformers' tokenize() with do_lower_case: every char outside the special tokens (and the normalized
  // non-special added tokens) goes through str.lower(), one char at a time; '\n' is left alone (regex '.').
  // `char_of` (when given) maps each byte of `text` to a code point of the original text: it is remapped to the
  // bytes of the result.
  std::string lowercase_outside_specials(const std::string& text, std::vector<uint32_t>* char_of) const {
    std::vector<std::string> keep = all_special_tokens_;
    for (const auto& [id, t] : added_tokens_) {
      if (!t.special && t.normalized) keep.push_back(t.content);
    }
    std::string out;
    std::vector<uint32_t> mapped;
    auto map_to = [&](size_t from) {
      if (char_of) mapped.resize(out.size(), (*char_of)[from]);
    };
    for (size_t i = 0; i < text.size();) {
      bool matched = false;
      for (const std::string& k : keep) {
        if (!k.empty() && text.compare(i, k.size(), k) == 0) {
          for (size_t j = 0; j < k.size(); ++j) {
            out += k[j];
            map_to(i + j);
          }
          i += k.size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
      size_t len;
      const char32_t c = tok::decode_utf8(text, i, &len);
      if (c == '\n') {
        out += '\n';
      } else {
        for (char32_t l : tok::lowercase_char(c)) tok::append_utf8(out, l);
      }
      map_to(i);
      i += len;
    }
    if (char_of) *char_of = std::move(mapped);
    return out;
  }

  // PreTrainedTokenizerBase.truncate_sequences; impossible requests (which transformers only logs, returning the
  // sequences untruncated) are errors here.
  void truncate(std::vector<int64_t>& ids, std::vector<int64_t>* pair, int64_t to_remove, Truncation strategy,
                int64_t stride, Side side, std::vector<int64_t>& overflowing) const {
    if (to_remove <= 0) return;
    const auto n = static_cast<int64_t>(ids.size());
    if (strategy == Truncation::OnlyFirst || (strategy == Truncation::LongestFirst && !pair)) {
      if (n > to_remove) {
        const int64_t window = std::min(n, stride + to_remove);
        if (side == Side::Left) {
          overflowing.assign(ids.begin(), ids.begin() + window);
          ids.erase(ids.begin(), ids.begin() + to_remove);
        } else {
          overflowing.assign(ids.end() - window, ids.end());
          ids.resize(static_cast<size_t>(n - to_remove));
        }
      } else {
        std::string msg = "We need to remove " + std::to_string(to_remove) +
                          " to truncate the input but the first sequence has a length " + std::to_string(n) + ". ";
        if (strategy == Truncation::OnlyFirst) {
          msg += "Please select another truncation strategy than only_first, for instance 'longest_first' or "
                 "'only_second'.";
        }
        throw Error(msg);
      }
    } else if (strategy == Truncation::LongestFirst) {
      const auto len_pair = static_cast<int64_t>(pair->size());
      const int64_t first_remove = std::min(std::abs(len_pair - n), to_remove);
      const int64_t second_remove = to_remove - first_remove;
      int64_t ids_to_move, pair_to_move;
      if (n > len_pair) {
        ids_to_move = first_remove + second_remove / 2;
        pair_to_move = second_remove - second_remove / 2;
      } else {
        ids_to_move = second_remove / 2;
        pair_to_move = first_remove + second_remove - second_remove / 2;
      }
      ids_to_move = std::min(ids_to_move, n);
      pair_to_move = std::min(pair_to_move, len_pair);
      if (side == Side::Right) {
        ids.resize(static_cast<size_t>(n - ids_to_move));
        pair->resize(static_cast<size_t>(len_pair - pair_to_move));
      } else {
        ids.erase(ids.begin(), ids.begin() + ids_to_move);
        pair->erase(pair->begin(), pair->begin() + pair_to_move);
      }
    } else if (strategy == Truncation::OnlySecond && pair) {
      const auto len_pair = static_cast<int64_t>(pair->size());
      if (len_pair > to_remove) {
        const int64_t window = std::min(len_pair, stride + to_remove);
        if (side == Side::Right) {
          overflowing.assign(pair->end() - window, pair->end());
          pair->resize(static_cast<size_t>(len_pair - to_remove));
        } else {
          overflowing.assign(pair->begin(), pair->begin() + window);
          pair->erase(pair->begin(), pair->begin() + to_remove);
        }
      } else {
        throw Error("We need to remove " + std::to_string(to_remove) +
                    " to truncate the input but the second sequence has a length " + std::to_string(len_pair) +
                    ". Please select another truncation strategy than only_second, for instance 'longest_first' or "
                    "'only_first'.");
      }
    }
  }

  // The ids of one text, and with return_offsets_mapping their offsets.
  struct Sequence {
    std::vector<int64_t> ids;
    Offsets offsets;
  };
  Sequence sequence_of(const std::string& text, bool with_offsets) const {
    Sequence q;
    q.ids = convert_tokens_to_ids(split(text, with_offsets ? &q.offsets : nullptr));
    return q;
  }
  // Cuts a sequence's offsets as truncate() cut its ids (from one end).
  static void follow_cut(Sequence& q, Side side) {
    if (q.offsets.size() <= q.ids.size()) return;
    const auto cut = static_cast<std::ptrdiff_t>(q.offsets.size() - q.ids.size());
    if (side == Side::Left) {
      q.offsets.erase(q.offsets.begin(), q.offsets.begin() + cut);
    } else {
      q.offsets.resize(q.ids.size());
    }
  }

  Encoding prepare_for_model(Sequence a, Sequence* b, const tok::Strategy& s, const EncodeOptions& o) const {
    Encoding e;
    std::vector<int64_t>& ids = a.ids;
    std::vector<int64_t>* pair = b ? &b->ids : nullptr;
    const int64_t total = static_cast<int64_t>(ids.size()) + (pair ? static_cast<int64_t>(pair->size()) : 0) +
                          (o.add_special_tokens ? num_special_tokens_to_add(pair != nullptr) : 0);
    if (s.truncation != Truncation::DoNotTruncate && s.max_length && *s.max_length > 0 && total > *s.max_length) {
      truncate(ids, pair, total - *s.max_length, s.truncation, o.stride, o.truncation_side, e.overflowing_tokens);
      follow_cut(a, o.truncation_side);
      if (b) follow_cut(*b, o.truncation_side);
    }
    if (o.return_overflowing_tokens) e.num_truncated_tokens = s.max_length ? total - *s.max_length : total;
    if (o.add_special_tokens) {
      e.input_ids = build_inputs_with_special_tokens(ids, pair);
      e.token_type_ids = create_token_type_ids_from_sequences(ids, pair);
      e.special_tokens_mask = get_special_tokens_mask(ids, pair);
    } else {
      e.input_ids = ids;
      if (pair) e.input_ids.insert(e.input_ids.end(), pair->begin(), pair->end());
      e.token_type_ids.assign(e.input_ids.size(), 0);
      e.special_tokens_mask.assign(e.input_ids.size(), 0);
    }
    if (o.return_offsets_mapping) {
      // [CLS] A [SEP] (B [SEP]): the template's tokens at [0, 0], as the fast tokenizer reports them.
      const std::pair<int64_t, int64_t> none{0, 0};
      if (o.add_special_tokens) e.offsets.push_back(none);
      e.offsets.insert(e.offsets.end(), a.offsets.begin(), a.offsets.end());
      if (o.add_special_tokens) e.offsets.push_back(none);
      if (b) {
        e.offsets.insert(e.offsets.end(), b->offsets.begin(), b->offsets.end());
        if (o.add_special_tokens) e.offsets.push_back(none);
      }
    }
    e.attention_mask.assign(e.input_ids.size(), 1);
    e.tokens = convert_ids_to_tokens(e.input_ids);
    return e;
  }

  // overflow_covers_whole_text: the sequence that truncation shortens is cut into windows of the length that fits
  // beside the other one and the special tokens, `stride` tokens shared by neighbours (tokenizers'
  // Encoding::truncate), each window a whole encoding.
  std::vector<Encoding> prepare_windows(Sequence a, Sequence* b, const tok::Strategy& s,
                                        const EncodeOptions& o) const {
    tok::Strategy whole = s;
    whole.truncation = Truncation::DoNotTruncate;
    const int64_t added = o.add_special_tokens ? num_special_tokens_to_add(b != nullptr) : 0;
    const int64_t total = static_cast<int64_t>(a.ids.size() + (b ? b->ids.size() : 0)) + added;
    if (s.truncation == Truncation::DoNotTruncate || !s.max_length || *s.max_length <= 0 || total <= *s.max_length) {
      return {prepare_for_model(std::move(a), b, whole, o)};
    }
    if (s.truncation == Truncation::OnlySecond && !b) throw Error("Truncation error: Second sequence not provided");
    Sequence& cut = s.truncation == Truncation::OnlySecond ? *b : a;
    const auto n = static_cast<int64_t>(cut.ids.size());
    const int64_t keep = n - (total - *s.max_length);
    if (keep <= 0) {
      // transformers' message for the sequence that is too short.
      std::vector<int64_t> ids = a.ids, pair_ids = b ? b->ids : std::vector<int64_t>{}, overflowing;
      truncate(ids, b ? &pair_ids : nullptr, total - *s.max_length, s.truncation, o.stride, o.truncation_side,
               overflowing);
      throw Error("Truncation error: Sequence to truncate too short to respect the provided max_length");
    }
    std::vector<Encoding> out;
    const Sequence full = cut;
    for (const auto& [begin, end] : tok::window_ranges(static_cast<size_t>(n), static_cast<size_t>(keep),
                                                       static_cast<size_t>(o.stride), o.truncation_side)) {
      cut.ids.assign(full.ids.begin() + static_cast<std::ptrdiff_t>(begin),
                     full.ids.begin() + static_cast<std::ptrdiff_t>(end));
      if (!full.offsets.empty()) {
        cut.offsets.assign(full.offsets.begin() + static_cast<std::ptrdiff_t>(begin),
                           full.offsets.begin() + static_cast<std::ptrdiff_t>(end));
      }
      out.push_back(prepare_for_model(a, b, whole, o));
      out.back().num_truncated_tokens = 0;  // transformers' count of the cut-off tokens: none, every window is kept
    }
    return out;
  }

  void pad(Encoding& e, int64_t target, Side side, bool with_offsets) const {
    const auto n = static_cast<int64_t>(e.input_ids.size());
    if (n >= target) return;
    const auto d = static_cast<size_t>(target - n);
    const std::string pad_token = special_.pad;
    auto grow = [&](auto& v, auto value) {
      if (side == Side::Right) {
        v.insert(v.end(), d, value);
      } else {
        v.insert(v.begin(), d, value);
      }
    };
    grow(e.input_ids, pad_id_);
    grow(e.token_type_ids, int64_t{0});
    grow(e.attention_mask, int64_t{0});
    grow(e.special_tokens_mask, int64_t{1});
    grow(e.tokens, pad_token);
    if (with_offsets) grow(e.offsets, std::pair<int64_t, int64_t>{0, 0});
  }

  std::string vocab_file_;
  sentencepiece::SentencePieceProcessor sp_;
  std::map<std::string, int64_t> encoder_;  // added token content -> id
  std::vector<std::string> split_tokens_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_slow_tokenizer(const std::string& dir) { return std::make_unique<SlowTokenizer>(dir); }

}  // namespace rembert
