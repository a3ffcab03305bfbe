// Batching and collators (see batching.h).
#include "train/batching.h"

#include <algorithm>
#include <numeric>

#include "rembert/error.h"

namespace rembert::train {

// ---- PyRandom: CPython's _randommodule.c

PyRandom::PyRandom(uint64_t seed) {
  // init_genrand(19650218) then init_by_array(key): key = the seed's 32-bit words, least significant first
  // (one word 0 for seed 0).
  std::vector<uint32_t> key;
  for (uint64_t s = seed; s != 0; s >>= 32) key.push_back(static_cast<uint32_t>(s & 0xffffffffu));
  if (key.empty()) key.push_back(0);
  constexpr int N = 624;
  mt_[0] = 19650218u;
  for (int i = 1; i < N; ++i) {
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  int i = 1;
  size_t j = 0;
  for (size_t k = std::max<size_t>(N, key.size()); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= N) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = N - 1; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= N) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = N;
}

uint32_t PyRandom::next_u32() {
  constexpr int N = 624, M = 397;
  constexpr uint32_t kMatrixA = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;
  if (index_ >= N) {
    for (int k = 0; k < N; ++k) {
      const uint32_t y = (mt_[k] & kUpper) | (mt_[(k + 1) % N] & kLower);
      mt_[k] = mt_[(k + M) % N] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t PyRandom::getrandbits(int k) {
  if (k < 0 || k > 64) throw Error("getrandbits: k must be in [0, 64], got " + std::to_string(k));
  if (k == 0) return 0;
  if (k <= 32) return next_u32() >> (32 - k);
  // Words from the least significant; the last one keeps its top bits.
  uint64_t r = next_u32();
  uint64_t hi = next_u32();
  if (k < 64) hi >>= (64 - k);
  return r | (hi << 32);
}

uint64_t PyRandom::randbelow(uint64_t n) {
  if (n == 0) throw Error("randbelow: n must be >= 1");
  int k = 0;
  for (uint64_t v = n; v; v >>= 1) ++k;  // n.bit_length()
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

double PyRandom::random() {
  const uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

// ---- batches

std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& lengths, PyRandom& rng, int64_t max_tokens,
                                               int64_t max_rows, int64_t sort_chunk) {
  if (max_rows < 1 || max_tokens < 1 || sort_chunk < 1) {
    throw Error("make_batches: max_tokens (" + std::to_string(max_tokens) + "), max_rows (" +
                std::to_string(max_rows) + ") and sort_chunk (" + std::to_string(sort_chunk) + ") must be >= 1");
  }
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  rng.shuffle(order);
  std::vector<std::vector<int64_t>> batches;
  const auto chunk = static_cast<size_t>(sort_chunk);
  for (size_t c0 = 0; c0 < order.size(); c0 += chunk) {
    std::vector<int64_t> part(order.begin() + static_cast<std::ptrdiff_t>(c0),
                              order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), c0 + chunk)));
    std::stable_sort(part.begin(), part.end(), [&](int64_t a, int64_t b) {
      return lengths[static_cast<size_t>(a)] < lengths[static_cast<size_t>(b)];
    });
    std::vector<int64_t> cur;
    int64_t longest = 0;
    for (int64_t i : part) {
      const int64_t len = lengths[static_cast<size_t>(i)];
      int64_t L = std::max(longest, len);
      const auto rows = static_cast<int64_t>(cur.size()) + 1;
      if (!cur.empty() && (rows > max_rows || rows * L > max_tokens)) {
        batches.push_back(std::move(cur));
        cur.clear();
        L = len;
      }
      cur.push_back(i);
      longest = L;
    }
    if (!cur.empty()) batches.push_back(std::move(cur));
  }
  rng.shuffle(batches);
  return batches;
}

std::vector<std::vector<int64_t>> fixed_batches(int64_t n, int64_t batch_size, PyRandom* rng, bool drop_last) {
  if (batch_size < 1) throw Error("batch_size must be >= 1, got " + std::to_string(batch_size));
  if (n < 0) throw Error("fixed_batches: negative row count");
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (rng) rng->shuffle(order);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b0 = 0; b0 < n; b0 += batch_size) {
    const int64_t b1 = std::min(n, b0 + batch_size);
    if (drop_last && b1 - b0 < batch_size) break;
    batches.emplace_back(order.begin() + b0, order.begin() + b1);
  }
  return batches;
}

// ---- collators

namespace {

// Right-pads rows to [rows, L]: ids with `pad`, the mask 1 on real tokens.
void pad_into(const std::vector<const std::vector<int64_t>*>& seqs, int64_t L, int64_t pad, int64_t* out,
              int64_t* mask) {
  for (size_t r = 0; r < seqs.size(); ++r) {
    const std::vector<int64_t>& s = *seqs[r];
    int64_t* row = out + static_cast<int64_t>(r) * L;
    std::fill(row, row + L, pad);
    std::copy(s.begin(), s.end(), row);
    if (mask) {
      int64_t* m = mask + static_cast<int64_t>(r) * L;
      std::fill(m, m + L, int64_t{0});
      std::fill(m, m + static_cast<int64_t>(s.size()), int64_t{1});
    }
  }
}

}  // namespace

Batch collate(const Dataset& data, const std::vector<int64_t>& rows, int64_t pad_token_id) {
  if (rows.empty()) throw Error(data.path + ": an empty batch");
  std::vector<const Features*> fs;
  for (int64_t i : rows) {
    if (i < 0 || i >= static_cast<int64_t>(data.features.size())) {
      throw Error(data.path + ": batch row " + std::to_string(i) + " out of range [0, " +
                  std::to_string(data.features.size()) + ")");
    }
    fs.push_back(&data.features[static_cast<size_t>(i)]);
  }
  const auto B = static_cast<int64_t>(fs.size());
  Batch b;
  b.rows = rows;

  if (data.task == Task::MultipleChoice) {
    const int64_t C = data.num_choices;
    std::vector<const std::vector<int64_t>*> ids, types;
    size_t L = 0;
    for (const Features* f : fs) {
      if (static_cast<int64_t>(f->choice_input_ids.size()) != C) throw Error(data.path + ": a row with the wrong number of choices");
      for (int64_t c = 0; c < C; ++c) {
        ids.push_back(&f->choice_input_ids[static_cast<size_t>(c)]);
        types.push_back(&f->choice_token_type_ids[static_cast<size_t>(c)]);
        L = std::max(L, f->choice_input_ids[static_cast<size_t>(c)].size());
        b.real_tokens += static_cast<int64_t>(f->choice_input_ids[static_cast<size_t>(c)].size());
      }
    }
    const Shape shape = {B, C, static_cast<int64_t>(L)};
    b.input_ids = Tensor(DType::I64, shape);
    b.attention_mask = Tensor(DType::I64, shape);
    b.token_type_ids = Tensor(DType::I64, shape);
    pad_into(ids, static_cast<int64_t>(L), pad_token_id, b.input_ids.mutable_data<int64_t>(),
             b.attention_mask.mutable_data<int64_t>());
    pad_into(types, static_cast<int64_t>(L), 0, b.token_type_ids.mutable_data<int64_t>(), nullptr);
    std::vector<int64_t> labels;
    for (const Features* f : fs) labels.push_back(f->label);
    b.labels = Tensor::from_i64({B}, labels);
    return b;
  }

  std::vector<const std::vector<int64_t>*> ids, types;
  size_t L = 0;
  for (const Features* f : fs) {
    ids.push_back(&f->input_ids);
    types.push_back(&f->token_type_ids);
    L = std::max(L, f->input_ids.size());
    b.real_tokens += static_cast<int64_t>(f->input_ids.size());
  }
  const auto Ls = static_cast<int64_t>(L);
  const Shape shape = {B, Ls};
  b.input_ids = Tensor(DType::I64, shape);
  b.attention_mask = Tensor(DType::I64, shape);
  b.token_type_ids = Tensor(DType::I64, shape);
  pad_into(ids, Ls, pad_token_id, b.input_ids.mutable_data<int64_t>(), b.attention_mask.mutable_data<int64_t>());
  pad_into(types, Ls, 0, b.token_type_ids.mutable_data<int64_t>(), nullptr);

  switch (data.task) {
    case Task::TextClassification: {
      const LabelMap& m = data.labels;
      if (m.problem == ProblemType::SingleLabel) {
        std::vector<int64_t> labels;
        for (const Features* f : fs) labels.push_back(f->label);
        b.labels = Tensor::from_i64({B}, labels);
      } else {
        const int64_t width = m.problem == ProblemType::Regression ? 1 : m.num_labels();
        std::vector<float> values;
        for (const Features* f : fs) {
          if (static_cast<int64_t>(f->label_values.size()) != width) throw Error(data.path + ": a row without its label values");
          values.insert(values.end(), f->label_values.begin(), f->label_values.end());
        }
        b.labels = m.problem == ProblemType::Regression ? Tensor::from_f32({B}, values) : Tensor::from_f32({B, width}, values);
      }
      break;
    }
    case Task::TokenClassification: {
      std::vector<const std::vector<int64_t>*> labels;
      for (const Features* f : fs) labels.push_back(&f->token_labels);
      b.labels = Tensor(DType::I64, shape);
      pad_into(labels, Ls, -100, b.labels.mutable_data<int64_t>(), nullptr);
      break;
    }
    case Task::QuestionAnswering: {
      std::vector<int64_t> s, e;
      for (const Features* f : fs) {
        s.push_back(f->start_position);
        e.push_back(f->end_position);
      }
      b.start_positions = Tensor::from_i64({B}, s);
      b.end_positions = Tensor::from_i64({B}, e);
      break;
    }
    case Task::FillMask: {
      std::vector<const std::vector<int64_t>*> special;
      for (const Features* f : fs) {
        if (f->special_tokens_mask.size() != f->input_ids.size()) throw Error(data.path + ": a row without its special tokens mask");
        special.push_back(&f->special_tokens_mask);
      }
      b.special_tokens_mask = Tensor(DType::I64, shape);
      pad_into(special, Ls, 1, b.special_tokens_mask.mutable_data<int64_t>(), nullptr);
      break;
    }
    case Task::CausalLM: {
      std::vector<int64_t> labels = b.input_ids.to_i64_vector();
      for (int64_t& v : labels) {
        if (v == pad_token_id) v = -100;
      }
      b.labels = Tensor::from_i64(shape, labels);
      break;
    }
    case Task::MultipleChoice: break;  // handled above
  }
  return b;
}

void mask_tokens(Batch& batch, PyRandom& rng, const MlmOptions& o) {
  if (!batch.special_tokens_mask.defined() || !batch.input_ids.defined()) {
    throw Error("mask_tokens: the batch has no special_tokens_mask (collate a fill-mask data set)");
  }
  if (o.mask_token_id < 0) throw Error("mask_tokens: the tokenizer has no mask token");
  if (o.vocab_size < 1) throw Error("mask_tokens: vocab_size must be >= 1");
  if (!(o.mlm_probability >= 0.0 && o.mlm_probability <= 1.0)) {
    throw Error("mask_tokens: mlm_probability must be in [0, 1], got " + std::to_string(o.mlm_probability));
  }
  const int64_t n = batch.input_ids.numel();
  int64_t* ids = batch.input_ids.mutable_data<int64_t>();
  const int64_t* special = batch.special_tokens_mask.data<int64_t>();
  const int64_t* mask = batch.attention_mask.data<int64_t>();
  std::vector<int64_t> labels(static_cast<size_t>(n), -100);
  for (int64_t i = 0; i < n; ++i) {
    if (special[i] || !mask[i]) continue;
    if (!(rng.random() < o.mlm_probability)) continue;
    labels[static_cast<size_t>(i)] = ids[i];
    if (rng.random() < 0.8) {
      ids[i] = o.mask_token_id;
    } else if (rng.random() < 0.5) {
      ids[i] = static_cast<int64_t>(rng.randbelow(static_cast<uint64_t>(o.vocab_size)));
    }
  }
  batch.labels = Tensor::from_i64(batch.input_ids.shape(), labels);
}

ForwardInputs forward_inputs(const Batch& batch) {
  ForwardInputs in;
  in.input_ids = batch.input_ids;
  in.attention_mask = batch.attention_mask;
  in.token_type_ids = batch.token_type_ids;
  in.labels = batch.labels;
  in.start_positions = batch.start_positions;
  in.end_positions = batch.end_positions;
  return in;
}

}  // namespace rembert::train
