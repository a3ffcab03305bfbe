// JSON Lines readers and features of the six training tasks (see data.h), following transformers' example
// scripts: run_glue (text classification), run_ner (token classification, label_all_tokens=False), run_qa's
// prepare_train_features / prepare_validation_features, run_mlm / run_clm line by line, run_swag.
#include "train/data.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "pipelines/common.h"
#include "pipelines/pipeline_util_qa.h"
#include "rembert/config.h"
#include "rembert/error.h"
#include "tokenizer/unicode.h"

namespace rembert::train {

using nlohmann::json;

namespace {

struct Row {
  int64_t line = 0;
  json value;
};

std::string at(const std::string& path, int64_t line) { return path + ":" + std::to_string(line); }

[[noreturn]] void fail(const std::string& path, int64_t line, const std::string& field, const std::string& what) {
  throw Error(at(path, line) + ": field '" + field + "': " + what);
}

// A JSON value as it appears in the file, shortened for messages.
std::string shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const char* type_of(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number_float()) return "a float";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_array()) return "a list";
  return "an object";
}

std::vector<Row> read_rows(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file");
  std::vector<Row> rows;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Row row{number, {}};
    try {
      row.value = json::parse(line);
    } catch (const json::exception& e) {  // also out_of_range: a number too large
      std::string what = e.what();
      const size_t k = what.find("] ");
      if (k != std::string::npos) what = what.substr(k + 2);
      throw Error(at(path, number) + ": not JSON: " + what);
    }
    if (!row.value.is_object()) throw Error(at(path, number) + ": a row must be a JSON object, got " + type_of(row.value));
    rows.push_back(std::move(row));
  }
  if (in.bad()) throw Error(path + ": read error");
  if (rows.empty()) throw Error(path + ": no rows (the file is empty)");
  return rows;
}

const json& field(const std::string& path, const Row& row, const std::string& name) {
  auto it = row.value.find(name);
  if (it == row.value.end()) fail(path, row.line, name, "missing");
  return *it;
}

// Present and not null.
bool has(const Row& row, const std::string& name) {
  auto it = row.value.find(name);
  return it != row.value.end() && !it->is_null();
}

std::string string_field(const std::string& path, const Row& row, const std::string& name, bool allow_empty = false) {
  const json& v = field(path, row, name);
  if (!v.is_string()) fail(path, row.line, name, std::string("expected a string, got ") + type_of(v));
  std::string s = v.get<std::string>();
  if (!allow_empty && s.empty()) fail(path, row.line, name, "empty string");
  return s;
}

int64_t task_default_max_length(Task task) { return task == Task::QuestionAnswering ? 384 : 512; }

// Encodes texts (and pairs) in one tokenizer call; when it fails, one row at a time, to name the row at fault.
std::vector<Encoding> encode_rows(const Tokenizer& tok, const std::vector<std::string>& texts,
                                  const std::vector<std::string>* pairs, const EncodeOptions& eo,
                                  const std::string& path, const std::vector<int64_t>& lines,
                                  const std::string& field_name, std::vector<int64_t>* overflow_map = nullptr) {
  try {
    BatchEncoding b = tok.encode_batch(texts, pairs, eo);
    if (overflow_map) *overflow_map = std::move(b.overflow_to_sample_mapping);
    return std::move(b.encodings);
  } catch (const Error&) {
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<std::string> one = {texts[i]};
      std::vector<std::string> one_pair;
      if (pairs) one_pair = {(*pairs)[i]};
      try {
        tok.encode_batch(one, pairs ? &one_pair : nullptr, eo);
      } catch (const Error& e) {
        fail(path, lines[i], field_name, e.what());
      }
    }
    throw;
  }
}

// ---- labels

enum class LabelKind { Name, Id, Float, List, Bad };

LabelKind kind_of(const json& v) {
  if (v.is_string()) return LabelKind::Name;
  if (v.is_number_integer()) return LabelKind::Id;
  if (v.is_number_float()) return LabelKind::Float;
  if (v.is_array()) return LabelKind::List;
  return LabelKind::Bad;
}

// Builds a label map from all the label values of a file (`values[i]` from line `lines[i]`, field `name`); each
// value is a single label (string or integer), lists already flattened.
LabelMap build_label_map(const std::string& path, const std::string& name, const std::vector<const json*>& values,
                         const std::vector<int64_t>& lines) {
  LabelMap map;
  const bool names = values.front()->is_string();
  std::set<std::string> seen;
  int64_t max_id = -1;
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    if (names) {
      if (!v.is_string()) {
        fail(path, lines[i], name, std::string("expected a label name (string) like the rows before, got ") + type_of(v));
      }
      seen.insert(v.get<std::string>());
    } else {
      if (!v.is_number_integer()) {
        fail(path, lines[i], name, std::string("expected a label id (integer) like the rows before, got ") + type_of(v));
      }
      const int64_t id = v.get<int64_t>();
      if (id < 0) fail(path, lines[i], name, "label id " + std::to_string(id) + " is negative");
      // Ids become LABEL_0..LABEL_<largest>: the config's bound keeps one huge id from exhausting memory.
      if (id >= RemBertConfig::kMaxNumLabels) {
        fail(path, lines[i], name,
             "label id " + std::to_string(id) + " is too large: a config holds at most " +
                 std::to_string(RemBertConfig::kMaxNumLabels) + " labels (ids 0.." +
                 std::to_string(RemBertConfig::kMaxNumLabels - 1) + ")");
      }
      max_id = std::max(max_id, id);
    }
  }
  map.from_names = names;
  if (names) {
    for (const std::string& s : seen) {
      map.label2id[s] = static_cast<int64_t>(map.id2label.size());
      map.id2label.push_back(s);
    }
  } else {
    for (int64_t i = 0; i <= max_id; ++i) {
      map.id2label.push_back("LABEL_" + std::to_string(i));
      map.label2id[map.id2label.back()] = i;
    }
  }
  return map;
}

// One single label (string or integer) looked up in the map.
int64_t label_id(const LabelMap& map, const json& v, const std::string& path, int64_t line, const std::string& name) {
  if (v.is_string()) {
    auto it = map.label2id.find(v.get<std::string>());
    if (it == map.label2id.end()) {
      fail(path, line, name, "unknown label " + shown(v) + " (not a label of the training data)");
    }
    return it->second;
  }
  if (v.is_number_integer()) {
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= map.num_labels()) {
      fail(path, line, name, "label id " + std::to_string(id) + " out of range [0, " + std::to_string(map.num_labels()) + ")");
    }
    return id;
  }
  fail(path, line, name, std::string("expected a label name or id, got ") + type_of(v));
}

// ---- text classification

LabelMap text_label_map(const std::string& path, const std::vector<Row>& rows) {
  // The problem type from the kinds of all labels: names or ids -> single label; floats (ints allowed among
  // them) -> regression; lists -> multi-label.
  bool any_float = false, any_list = false;
  for (const Row& r : rows) {
    const json& v = field(path, r, "label");
    const LabelKind k = kind_of(v);
    if (k == LabelKind::Bad) {
      fail(path, r.line, "label", std::string("expected a label name, id, float or list, got ") + type_of(v));
    }
    any_float = any_float || k == LabelKind::Float;
    any_list = any_list || k == LabelKind::List;
  }
  std::vector<const json*> values;
  std::vector<int64_t> lines;
  if (any_list) {
    for (const Row& r : rows) {
      const json& v = r.value["label"];
      if (!v.is_array()) fail(path, r.line, "label", std::string("expected a list of labels (multi-label), got ") + type_of(v));
      for (const json& x : v) {
        values.push_back(&x);
        lines.push_back(r.line);
      }
    }
    if (values.empty()) throw Error(path + ": field 'label': every list of labels is empty");
    LabelMap map = build_label_map(path, "label", values, lines);
    map.problem = ProblemType::MultiLabel;
    return map;
  }
  if (any_float) {
    for (const Row& r : rows) {
      const json& v = r.value["label"];
      if (!v.is_number()) fail(path, r.line, "label", std::string("expected a number (regression), got ") + type_of(v));
    }
    LabelMap map;
    map.problem = ProblemType::Regression;
    map.id2label = {"LABEL_0"};
    map.label2id["LABEL_0"] = 0;
    return map;
  }
  for (const Row& r : rows) {
    values.push_back(&r.value["label"]);
    lines.push_back(r.line);
  }
  return build_label_map(path, "label", values, lines);
}

void set_text_label(Features& f, const LabelMap& map, const Row& r, const std::string& path) {
  const json& v = field(path, r, "label");
  switch (map.problem) {
    case ProblemType::SingleLabel:
      f.label = label_id(map, v, path, r.line, "label");
      break;
    case ProblemType::Regression: {
      if (!v.is_number()) fail(path, r.line, "label", std::string("expected a number (regression), got ") + type_of(v));
      f.label_values = {v.get<float>()};
      break;
    }
    case ProblemType::MultiLabel: {
      if (!v.is_array()) fail(path, r.line, "label", std::string("expected a list of labels (multi-label), got ") + type_of(v));
      f.label_values.assign(static_cast<size_t>(map.num_labels()), 0.0f);
      for (const json& x : v) f.label_values[static_cast<size_t>(label_id(map, x, path, r.line, "label"))] = 1.0f;
      break;
    }
  }
}

// The encoding of the tasks that cut long rows to max_length (longest first), unless they are dropped instead.
EncodeOptions truncating_options(const DataOptions& o, int64_t max_length) {
  EncodeOptions eo;
  if (!o.drop_long_rows) {
    eo.truncation = Truncation::LongestFirst;
    eo.max_length = max_length;
  }
  return eo;
}

// fn(c0, c1) over consecutive chunks [c0, c1) of n rows, o.encode_chunk at a time: the rows are tokenized a chunk
// at a time (over the threads within a chunk), so the strings of a big file are not all held at once.
template <class Fn>
void for_each_chunk(size_t n, const DataOptions& o, Fn fn) {
  const auto chunk = static_cast<size_t>(std::max<int64_t>(1, o.encode_chunk));
  for (size_t c0 = 0; c0 < n; c0 += chunk) fn(c0, std::min(n, c0 + chunk));
}

void read_text_classification(Dataset& ds, const std::vector<Row>& rows, const Tokenizer& tok,
                              const DataOptions& o, int64_t max_length) {
  ds.labels = o.labels ? *o.labels : text_label_map(ds.path, rows);
  const EncodeOptions eo = truncating_options(o, max_length);
  for_each_chunk(rows.size(), o, [&](size_t c0, size_t c1) {
    // Rows with a text_pair are encoded as pairs, the others alone.
    std::vector<std::string> single_texts, pair_texts, pairs;
    std::vector<int64_t> single_lines, pair_lines;
    std::vector<char> is_pair;
    for (size_t i = c0; i < c1; ++i) {
      const std::string text = string_field(ds.path, rows[i], "text");
      is_pair.push_back(has(rows[i], "text_pair"));
      if (is_pair.back()) {
        pair_texts.push_back(text);
        pairs.push_back(string_field(ds.path, rows[i], "text_pair"));
        pair_lines.push_back(rows[i].line);
      } else {
        single_texts.push_back(text);
        single_lines.push_back(rows[i].line);
      }
    }
    std::vector<Encoding> singles, paired;
    if (!single_texts.empty()) singles = encode_rows(tok, single_texts, nullptr, eo, ds.path, single_lines, "text");
    if (!pair_texts.empty()) paired = encode_rows(tok, pair_texts, &pairs, eo, ds.path, pair_lines, "text");
    size_t next_single = 0, next_pair = 0;
    for (size_t i = c0; i < c1; ++i) {
      Encoding& e = is_pair[i - c0] ? paired[next_pair++] : singles[next_single++];
      Features f;
      set_text_label(f, ds.labels, rows[i], ds.path);
      if (o.drop_long_rows && static_cast<int64_t>(e.input_ids.size()) > max_length) {
        ++ds.dropped;
        continue;
      }
      f.input_ids = std::move(e.input_ids);
      f.token_type_ids = std::move(e.token_type_ids);
      ds.features.push_back(std::move(f));
    }
  });
}

// ---- token classification

void read_token_classification(Dataset& ds, const std::vector<Row>& rows, const Tokenizer& tok,
                               const DataOptions& o, int64_t max_length) {
  const std::string& path = ds.path;
  std::vector<const json*> tags;
  std::vector<int64_t> tag_lines;
  for (const Row& r : rows) {
    const json& words = field(path, r, "tokens");
    if (!words.is_array()) fail(path, r.line, "tokens", std::string("expected a list of words, got ") + type_of(words));
    if (words.empty()) fail(path, r.line, "tokens", "empty list of words");
    for (size_t w = 0; w < words.size(); ++w) {
      if (!words[w].is_string()) {
        fail(path, r.line, "tokens", "word " + std::to_string(w) + ": expected a string, got " + type_of(words[w]));
      }
    }
    const json& t = field(path, r, "ner_tags");
    if (!t.is_array()) fail(path, r.line, "ner_tags", std::string("expected a list of tags, got ") + type_of(t));
    if (t.size() != words.size()) {
      fail(path, r.line, "ner_tags", std::to_string(t.size()) + " tags for " + std::to_string(words.size()) + " words");
    }
    for (const json& x : t) {
      if (!x.is_string() && !x.is_number_integer()) {
        fail(path, r.line, "ner_tags", std::string("expected tag names or ids, got ") + type_of(x));
      }
      tags.push_back(&x);
      tag_lines.push_back(r.line);
    }
  }
  ds.labels = o.labels ? *o.labels : build_label_map(path, "ner_tags", tags, tag_lines);
  if (ds.labels.problem != ProblemType::SingleLabel) {
    throw Error(path + ": token classification needs a single-label map, got " + problem_type_name(ds.labels.problem));
  }

  // is_split_into_words: every word tokenized on its own (no special tokens); the label on its first piece.
  EncodeOptions eo;
  eo.add_special_tokens = false;
  for_each_chunk(rows.size(), o, [&](size_t c0, size_t c1) {
    std::vector<std::string> words;
    std::vector<int64_t> lines;
    for (size_t i = c0; i < c1; ++i) {
      for (const json& w : rows[i].value["tokens"]) {
        words.push_back(w.get<std::string>());
        lines.push_back(rows[i].line);
      }
    }
    const std::vector<Encoding> enc = encode_rows(tok, words, nullptr, eo, path, lines, "tokens");
    size_t next = 0;
    for (size_t i = c0; i < c1; ++i) {
      const Row& r = rows[i];
      const json& t = r.value["ner_tags"];
      std::vector<int64_t> pieces, labels;
      for (size_t w = 0; w < t.size(); ++w) {
        const int64_t label = label_id(ds.labels, t[w], path, r.line, "ner_tags");
        const Encoding& e = enc[next++];
        for (size_t k = 0; k < e.input_ids.size(); ++k) {
          pieces.push_back(e.input_ids[k]);
          labels.push_back(k == 0 ? label : -100);
        }
      }
      const auto room = static_cast<size_t>(std::max<int64_t>(0, max_length - tok.num_special_tokens_to_add(false)));
      if (pieces.size() > room) {
        if (o.drop_long_rows) {
          ++ds.dropped;
          continue;
        }
        pieces.resize(room);
        labels.resize(room);
      }
      Features f;
      f.input_ids = tok.build_inputs_with_special_tokens(pieces);
      f.token_type_ids = tok.create_token_type_ids_from_sequences(pieces);
      f.token_labels.reserve(f.input_ids.size());
      f.token_labels.push_back(-100);  // [CLS]
      f.token_labels.insert(f.token_labels.end(), labels.begin(), labels.end());
      f.token_labels.push_back(-100);  // [SEP]
      ds.features.push_back(std::move(f));
    }
  });
}

// ---- question answering

QaExample qa_example(const std::string& path, const Row& r) {
  QaExample ex;
  if (has(r, "id")) {
    const json& id = r.value["id"];
    if (id.is_string()) ex.id = id.get<std::string>();
    else if (id.is_number_integer()) ex.id = std::to_string(id.get<int64_t>());
    else fail(path, r.line, "id", std::string("expected a string or integer, got ") + type_of(id));
  } else {
    ex.id = std::to_string(r.line);
  }
  ex.context = string_field(path, r, "context");
  const json& answers = field(path, r, "answers");
  if (!answers.is_object()) fail(path, r.line, "answers", std::string("expected an object {text, answer_start}, got ") + type_of(answers));
  auto text = answers.find("text");
  auto start = answers.find("answer_start");
  if (text == answers.end()) fail(path, r.line, "answers.text", "missing");
  if (start == answers.end()) fail(path, r.line, "answers.answer_start", "missing");
  if (!text->is_array()) fail(path, r.line, "answers.text", std::string("expected a list, got ") + type_of(*text));
  if (!start->is_array()) fail(path, r.line, "answers.answer_start", std::string("expected a list, got ") + type_of(*start));
  if (text->size() != start->size()) {
    fail(path, r.line, "answers", std::to_string(text->size()) + " texts but " + std::to_string(start->size()) + " answer_start values");
  }
  const int64_t context_chars = pipelines::code_point_count(ex.context);
  for (size_t k = 0; k < text->size(); ++k) {
    const json& t = (*text)[k];
    const json& s = (*start)[k];
    if (!t.is_string()) fail(path, r.line, "answers.text", "answer " + std::to_string(k) + ": expected a string, got " + type_of(t));
    if (!s.is_number_integer()) {
      fail(path, r.line, "answers.answer_start", "answer " + std::to_string(k) + ": expected an integer, got " + type_of(s));
    }
    const std::string answer = t.get<std::string>();
    const int64_t a = s.get<int64_t>();
    const int64_t n = pipelines::code_point_count(answer);
    if (a < 0 || a + n > context_chars) {
      fail(path, r.line, "answers.answer_start",
           "answer " + std::to_string(k) + " at " + std::to_string(a) + " with " + std::to_string(n) +
               " characters is outside the context (" + std::to_string(context_chars) + " characters)");
    }
    ex.answers.push_back(answer);
    ex.answer_starts.push_back(a);
  }
  return ex;
}

// prepare_train_features: the answer's character span mapped to the window's tokens, or the [CLS] index when
// the window does not hold the whole answer. The scans stay inside the context tokens (transformers' start scan
// may run onto the final [SEP] when the answer starts in the window's last token).
void qa_positions(Features& f, const Encoding& w, const QaExample& ex, int64_t cls_id) {
  int64_t cls_index = 0;
  auto it = std::find(w.input_ids.begin(), w.input_ids.end(), cls_id);
  if (it != w.input_ids.end()) cls_index = it - w.input_ids.begin();
  f.start_position = f.end_position = cls_index;
  if (ex.answers.empty()) return;
  const std::vector<int64_t> seq = pipelines::qa::sequence_ids(w);
  const auto S = static_cast<int64_t>(seq.size());
  int64_t first = 0, last = S - 1;
  while (first < S && seq[static_cast<size_t>(first)] != 1) ++first;
  while (last >= 0 && seq[static_cast<size_t>(last)] != 1) --last;
  if (first > last) return;
  const int64_t start_char = ex.answer_starts[0];
  const int64_t end_char = start_char + pipelines::code_point_count(ex.answers[0]);
  const auto& off = w.offsets;
  if (!(off[static_cast<size_t>(first)].first <= start_char && off[static_cast<size_t>(last)].second >= end_char)) return;
  int64_t s = first;
  while (s <= last && off[static_cast<size_t>(s)].first <= start_char) ++s;
  int64_t e = last;
  while (e >= first && off[static_cast<size_t>(e)].second >= end_char) --e;
  f.start_position = s - 1;
  f.end_position = e + 1;
}

void read_question_answering(Dataset& ds, const std::vector<Row>& rows, const Tokenizer& tok,
                             const DataOptions& o, int64_t max_length, bool keep_offsets) {
  if (!tok.is_fast()) {
    throw Error(ds.path + ": question-answering needs a fast tokenizer (tokenizer.json) for the character offsets");
  }
  if (o.doc_stride < 0 || o.doc_stride >= max_length) {
    throw Error(ds.path + ": doc_stride " + std::to_string(o.doc_stride) + " must be in [0, max_length " +
                std::to_string(max_length) + ")");
  }
  EncodeOptions eo;
  eo.truncation = Truncation::OnlySecond;
  eo.max_length = max_length;
  eo.stride = o.doc_stride;
  eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;
  for_each_chunk(rows.size(), o, [&](size_t c0, size_t c1) {
    std::vector<std::string> questions, contexts;
    std::vector<int64_t> lines;
    const auto base = static_cast<int64_t>(ds.examples.size());
    for (size_t i = c0; i < c1; ++i) {
      const std::string q = string_field(ds.path, rows[i], "question");
      questions.emplace_back(tok::python_strip(q, true, false));  // run_qa strips the question's left
      if (questions.back().empty()) fail(ds.path, rows[i].line, "question", "only white space");
      ds.examples.push_back(qa_example(ds.path, rows[i]));
      contexts.push_back(ds.examples.back().context);
      lines.push_back(rows[i].line);
    }
    std::vector<int64_t> sample;
    std::vector<Encoding> windows = encode_rows(tok, questions, &contexts, eo, ds.path, lines, "context", &sample);
    for (size_t k = 0; k < windows.size(); ++k) {
      Encoding& w = windows[k];
      Features f;
      f.example_index = base + sample[k];
      qa_positions(f, w, ds.examples[static_cast<size_t>(f.example_index)], tok.cls_token_id());
      if (keep_offsets) {
        const std::vector<int64_t> seq = pipelines::qa::sequence_ids(w);
        f.offsets.resize(w.offsets.size(), {-1, -1});
        for (size_t t = 0; t < seq.size(); ++t) {
          if (seq[t] == 1) f.offsets[t] = w.offsets[t];
        }
      }
      f.input_ids = std::move(w.input_ids);
      f.token_type_ids = std::move(w.token_type_ids);
      ds.features.push_back(std::move(f));
    }
  });
}

// ---- fill-mask, causal LM

void read_plain_text(Dataset& ds, const std::vector<Row>& rows, const Tokenizer& tok, const DataOptions& o,
                     int64_t max_length) {
  const EncodeOptions eo = truncating_options(o, max_length);
  for_each_chunk(rows.size(), o, [&](size_t c0, size_t c1) {
    std::vector<std::string> texts;
    std::vector<int64_t> lines;
    for (size_t i = c0; i < c1; ++i) {
      texts.push_back(string_field(ds.path, rows[i], "text"));
      lines.push_back(rows[i].line);
    }
    std::vector<Encoding> enc = encode_rows(tok, texts, nullptr, eo, ds.path, lines, "text");
    for (Encoding& e : enc) {
      if (o.drop_long_rows && static_cast<int64_t>(e.input_ids.size()) > max_length) {
        ++ds.dropped;
        continue;
      }
      Features f;
      f.input_ids = std::move(e.input_ids);
      f.token_type_ids = std::move(e.token_type_ids);
      f.special_tokens_mask = std::move(e.special_tokens_mask);
      ds.features.push_back(std::move(f));
    }
  });
}

// ---- multiple choice

void read_multiple_choice(Dataset& ds, const std::vector<Row>& rows, const Tokenizer& tok, const DataOptions& o,
                          int64_t max_length) {
  const std::string& path = ds.path;
  const EncodeOptions eo = truncating_options(o, max_length);
  for_each_chunk(rows.size(), o, [&](size_t c0, size_t c1) {
    std::vector<std::string> contexts, choices;
    std::vector<int64_t> lines, labels;
    for (size_t i = c0; i < c1; ++i) {
      const Row& r = rows[i];
      const std::string context = string_field(path, r, "context");
      const json& c = field(path, r, "choices");
      if (!c.is_array()) fail(path, r.line, "choices", std::string("expected a list of strings, got ") + type_of(c));
      if (c.size() < 2) fail(path, r.line, "choices", "need at least 2 choices, got " + std::to_string(c.size()));
      const auto n = static_cast<int64_t>(c.size());
      if (ds.num_choices == 0) ds.num_choices = n;
      if (n != ds.num_choices) {
        fail(path, r.line, "choices", std::to_string(n) + " choices, but the first row has " + std::to_string(ds.num_choices));
      }
      for (size_t k = 0; k < c.size(); ++k) {
        if (!c[k].is_string()) fail(path, r.line, "choices", "choice " + std::to_string(k) + ": expected a string, got " + type_of(c[k]));
        contexts.push_back(context);
        choices.push_back(c[k].get<std::string>());
        lines.push_back(r.line);
      }
      const json& l = field(path, r, "label");
      if (!l.is_number_integer()) fail(path, r.line, "label", std::string("expected the index of the right choice (integer), got ") + type_of(l));
      const int64_t label = l.get<int64_t>();
      if (label < 0 || label >= n) {
        fail(path, r.line, "label", "choice " + std::to_string(label) + " out of range [0, " + std::to_string(n) + ")");
      }
      labels.push_back(label);
    }
    std::vector<Encoding> enc = encode_rows(tok, contexts, &choices, eo, path, lines, "choices");
    const auto C = static_cast<size_t>(ds.num_choices);
    for (size_t i = 0; i < c1 - c0; ++i) {
      Features f;
      f.label = labels[i];
      bool too_long = false;
      for (size_t k = 0; k < C; ++k) {
        Encoding& e = enc[i * C + k];
        too_long = too_long || static_cast<int64_t>(e.input_ids.size()) > max_length;
        f.choice_input_ids.push_back(std::move(e.input_ids));
        f.choice_token_type_ids.push_back(std::move(e.token_type_ids));
      }
      if (o.drop_long_rows && too_long) {
        ++ds.dropped;
        continue;
      }
      ds.features.push_back(std::move(f));
    }
  });
}

}  // namespace

Task task_from_name(const std::string& name) {
  static const std::pair<const char*, Task> kTasks[] = {
      {"text-classification", Task::TextClassification}, {"token-classification", Task::TokenClassification},
      {"question-answering", Task::QuestionAnswering},   {"fill-mask", Task::FillMask},
      {"multiple-choice", Task::MultipleChoice},         {"causal-lm", Task::CausalLM}};
  for (const auto& [n, t] : kTasks) {
    if (name == n) return t;
  }
  throw Error("unknown task '" + name +
              "' (known: text-classification, token-classification, question-answering, fill-mask, "
              "multiple-choice, causal-lm)");
}

const char* task_name(Task task) {
  switch (task) {
    case Task::TextClassification: return "text-classification";
    case Task::TokenClassification: return "token-classification";
    case Task::QuestionAnswering: return "question-answering";
    case Task::FillMask: return "fill-mask";
    case Task::MultipleChoice: return "multiple-choice";
    case Task::CausalLM: return "causal-lm";
  }
  return "?";
}

ProblemType problem_type_from_name(const std::string& name) {
  for (ProblemType p : {ProblemType::SingleLabel, ProblemType::MultiLabel, ProblemType::Regression}) {
    if (name == problem_type_name(p)) return p;
  }
  throw Error("problem_type \"" + name + "\": expected single_label_classification, multi_label_classification or "
              "regression");
}

const char* problem_type_name(ProblemType p) {
  switch (p) {
    case ProblemType::SingleLabel: return "single_label_classification";
    case ProblemType::MultiLabel: return "multi_label_classification";
    case ProblemType::Regression: return "regression";
  }
  return "?";
}

int64_t Features::length() const {
  if (!choice_input_ids.empty()) {
    size_t longest = 0;
    for (const auto& c : choice_input_ids) longest = std::max(longest, c.size());
    return static_cast<int64_t>(choice_input_ids.size() * longest);
  }
  return static_cast<int64_t>(input_ids.size());
}

std::vector<int64_t> Dataset::lengths() const {
  std::vector<int64_t> out;
  out.reserve(features.size());
  for (const Features& f : features) out.push_back(f.length());
  return out;
}

Dataset read_dataset(const std::string& path, Task task, const Tokenizer& tokenizer, const DataOptions& options) {
  const int64_t max_length = options.max_length > 0 ? options.max_length : task_default_max_length(task);
  if (max_length <= tokenizer.num_special_tokens_to_add(true)) {
    throw Error(path + ": max_length " + std::to_string(max_length) + " leaves no room for text");
  }
  if (options.labels && task != Task::TextClassification && task != Task::TokenClassification) {
    throw Error(path + ": a label map is only for text and token classification");
  }
  const std::vector<Row> rows = read_rows(path);
  Dataset ds;
  ds.task = task;
  ds.path = path;
  ds.rows = static_cast<int64_t>(rows.size());
  switch (task) {
    case Task::TextClassification: read_text_classification(ds, rows, tokenizer, options, max_length); break;
    case Task::TokenClassification: read_token_classification(ds, rows, tokenizer, options, max_length); break;
    case Task::QuestionAnswering:
      read_question_answering(ds, rows, tokenizer, options, max_length, options.keep_qa_offsets);
      break;
    case Task::FillMask:
    case Task::CausalLM: read_plain_text(ds, rows, tokenizer, options, max_length); break;
    case Task::MultipleChoice: read_multiple_choice(ds, rows, tokenizer, options, max_length); break;
  }
  return ds;
}

}  // namespace rembert::train
