// rembert bench: times forward passes inside one process, after loading, and prints one JSON line per case in the
// format of ../shared/bench's peers, so results line up with PyTorch and ONNX Runtime runs.
//   cases: encoder:B:S, mixed:L1,L2,..., mlm-all:B:S, mlm-one:B:S, fill-mask:S, decode:P:N, decode-copy:P:N
// encoder and mixed time the bare encoder (RemBertModel, as the peers do), whatever head the checkpoint has.
// fill-mask runs the fill-mask pipeline end to end (text -> tokenizer -> model -> top 5 -> decoded strings) on a text
// of S tokens with one mask; it needs the checkpoint's folder to hold a tokenizer that covers vocab_size.
// decode is generate() (greedy, N new tokens after a P-token prompt, in-place cache); decode-copy the same tokens
// through the legacy past_key_values, which copies the whole cache every step (the baseline).
// train:B:S times one fine-tuning step as bench/peers/peer_torch_train.py does: RemBertForSequenceClassification with
// 2 labels (pooler / classifier the checkpoint lacks initialised), the LCG's B x S ids, mask all ones, label of row
// b = b % 2, train-mode dropout with the config's probabilities; zero_grad + forward + cross-entropy + backward +
// AdamW step (the langid recipe's settings: betas 0.9, 0.98, eps 1e-6, weight decay 0.01 except biases and
// LayerNorm, constant lr 2e-4). One model and one optimizer for all train cases: the weights keep changing.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>
#include <sstream>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "rembert/safetensors.h"
#include "rembert/train.h"
#include "train/optimizer.h"
#include "train/parameter_slots.h"

namespace rembert::cli {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int64_t> parse_numbers(const std::string& text, char sep, const std::string& spec) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (used != item.size() || out.back() <= 0) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error("case '" + spec + "': '" + item + "' is not a positive number");
    }
  }
  return out;
}

// The peers' token ids: one 64-bit LCG state over the real tokens in row-major order.
struct TokenStream {
  uint64_t x;
  int64_t vocab;
  int64_t next() {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return 5 + static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(vocab - 5));
  }
};

struct Case {
  std::string spec;
  int64_t tokens = 0;
  std::function<void()> run;
};

// A text the tokenizer turns into exactly S tokens with one mask: the words of a sentence, in turn, each kept when
// the count stays within S.
std::string fill_mask_text(const Tokenizer& tok, int64_t S, const std::string& spec) {
  static const std::vector<std::string> kWords = {"the", "old", "town", "of", "paris", "is", "a", "city", "on",
                                                  "river", "seine", "and", "it", "has", "many", "narrow", "streets"};
  const std::string tail = " " + tok.special_tokens().mask + ".";
  auto count = [&](const std::string& text) { return static_cast<int64_t>(tok.encode(text + tail).input_ids.size()); };
  std::string text = "Paris";
  size_t misses = 0;
  for (size_t i = 0; count(text) < S; ++i) {
    const std::string longer = text + " " + kWords[i % kWords.size()];
    if (count(longer) <= S) {
      text = longer;
      misses = 0;
    } else if (++misses == kWords.size()) {
      break;
    }
  }
  const Encoding enc = tok.encode(text + tail);
  const auto masks = std::count(enc.input_ids.begin(), enc.input_ids.end(), tok.mask_token_id());
  if (static_cast<int64_t>(enc.input_ids.size()) != S || masks != 1) {
    throw Error("case '" + spec + "': found no text of " + std::to_string(S) + " tokens with one mask (closest: " +
                std::to_string(enc.input_ids.size()) + " tokens)");
  }
  return text + tail;
}

// Greedy decoding through the legacy past_key_values, which copy the whole cache into new tensors every step, as
// generate() did before the in-place cache: decode-copy's baseline.
void greedy_with_copied_cache(const Model& model, std::vector<int64_t> sequence, int64_t new_tokens) {
  std::vector<LayerCache> cache;
  for (int64_t step = 0; step < new_tokens; ++step) {
    ForwardInputs in;
    const std::vector<int64_t> feed = cache.empty() ? sequence : std::vector<int64_t>{sequence.back()};
    in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(feed.size())}, feed);
    in.past_key_values = std::move(cache);
    in.use_cache = true;
    in.logits_rows = {static_cast<int64_t>(feed.size()) - 1};
    ForwardOutputs out = model.forward(in);
    cache = std::move(out.past_key_values);
    const float* row = out.logits.data<float>();
    sequence.push_back(std::max_element(row, row + out.logits.dim(1)) - row);
  }
}

std::string kind_of(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) throw Error("case '" + spec + "': expected KIND:ARGS");
  return spec.substr(0, colon);
}

// The encoder cases time the bare RemBertModel, as the peers do, whatever head the checkpoint has.
bool times_bare_encoder(const std::string& kind) { return kind == "encoder" || kind == "mixed"; }

Case make_case(const std::string& spec, const std::shared_ptr<const Model>& shared, const std::string& model_dir,
               uint64_t seed) {
  const Model& model = *shared;
  const std::string kind = kind_of(spec), args = spec.substr(kind.size() + 1);
  TokenStream ids{seed, model.config().vocab_size};
  Case c;
  c.spec = spec;
  if (kind == "encoder" || kind == "mlm-all" || kind == "mlm-one") {
    std::vector<int64_t> bs = parse_numbers(args, ':', spec);
    if (bs.size() != 2) throw Error("case '" + spec + "': expected " + kind + ":B:S");
    const int64_t B = bs[0], S = bs[1];
    std::vector<int64_t> v(static_cast<size_t>(B * S));
    for (auto& id : v) id = ids.next();
    auto in = std::make_shared<ForwardInputs>();
    in->input_ids = Tensor::from_i64({B, S}, v);
    if (kind != "encoder" && model.head() != HeadType::MaskedLM) {
      throw Error("case '" + spec + "' needs a masked-LM model (this one is " + head_class_name(model.head()) + ")");
    }
    if (kind == "mlm-one") {
      for (int64_t b = 0; b < B; ++b) in->logits_rows.push_back(b * S + S / 2);
    }
    c.tokens = B * S;
    c.run = [&model, in] { model.forward(*in); };
  } else if (kind == "fill-mask") {
    std::vector<int64_t> s = parse_numbers(args, ':', spec);
    if (s.size() != 1) throw Error("case '" + spec + "': expected fill-mask:S");
    if (model.head() != HeadType::MaskedLM) {
      throw Error("case '" + spec + "' needs a masked-LM model (this one is " + head_class_name(model.head()) + ")");
    }
    PipelineModel pm{shared, load_tokenizer(model_dir), {}, {}};
    if (pm.tokenizer->size() < model.config().vocab_size) {
      // Predictions of ids the tokenizer lacks would decode to nothing: not the real pipeline's work.
      throw Error("case '" + spec + "': the tokenizer has " + std::to_string(pm.tokenizer->size()) +
                  " pieces, the model's vocab_size is " + std::to_string(model.config().vocab_size) +
                  " (scripts/make_full_size_tokenizer.py writes a full-size one)");
    }
    const std::string text = fill_mask_text(*pm.tokenizer, s[0], spec);
    c.tokens = s[0];
    c.run = [pm, text] { fill_mask(pm, text); };
  } else if (kind == "mixed") {
    std::vector<int64_t> lengths = parse_numbers(args, ',', spec);
    const int64_t B = static_cast<int64_t>(lengths.size()), S = *std::max_element(lengths.begin(), lengths.end());
    std::vector<int64_t> v(static_cast<size_t>(B * S), model.config().pad_token_id.value_or(0)), mask(v.size(), 0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < lengths[static_cast<size_t>(b)]; ++s) {
        v[static_cast<size_t>(b * S + s)] = ids.next();
        mask[static_cast<size_t>(b * S + s)] = 1;
      }
      c.tokens += lengths[static_cast<size_t>(b)];
    }
    auto in = std::make_shared<ForwardInputs>();
    in->input_ids = Tensor::from_i64({B, S}, v);
    in->attention_mask = Tensor::from_i64({B, S}, mask);
    c.run = [&model, in] { model.forward(*in); };
  } else if (kind == "decode" || kind == "decode-copy") {
    std::vector<int64_t> pn = parse_numbers(args, ':', spec);
    if (pn.size() != 2) throw Error("case '" + spec + "': expected " + kind + ":P:N");
    if (model.head() != HeadType::CausalLM) {
      throw Error("case '" + spec + "' needs a causal-LM model (init-random --head causal-lm with is_decoder)");
    }
    std::vector<int64_t> prompt(static_cast<size_t>(pn[0]));
    for (auto& id : prompt) id = ids.next();
    GenerationOptions g;
    g.max_new_tokens = pn[1];
    g.eos_token_id = -1;  // always generate N tokens
    c.tokens = pn[1];
    if (kind == "decode") {
      c.run = [&model, prompt, g] { generate(model, prompt, g); };
    } else {
      c.run = [&model, prompt, n = pn[1]] { greedy_with_copied_cache(model, prompt, n); };
    }
  } else {
    throw Error("case '" + spec + "': unknown kind '" + kind +
                "' (encoder, mixed, mlm-all, mlm-one, fill-mask, decode, decode-copy, train)");
  }
  return c;
}

// The model and optimizer the train cases share (loaded at the first one).
struct TrainState {
  std::unique_ptr<TrainableModel> model;
  std::unique_ptr<train::AdamW> optimizer;
  uint64_t steps = 0;  // the dropout seed of the next step
  double load_s = 0.0;
  // Of the last step: zero_grad + forward + backward, and the optimizer's update.
  double forward_backward_ms = 0.0, optimizer_ms = 0.0;
};

constexpr double kTrainLr = 2e-4;

void load_train_model(TrainState& t, const std::string& model_dir, uint64_t seed, TrainPrecision precision) {
  const double t0 = now_seconds();
  RemBertConfig config = RemBertConfig::from_json_file(model_dir + "/config.json");
  Checkpoint checkpoint = load_checkpoint(model_dir);
  if (config.num_labels() != 2) {
    // The peer's id2label override: 2 labels, the checkpoint's classifier (another label count) re-initialised.
    config.set_num_labels(2);
    for (auto it = checkpoint.tensors.begin(); it != checkpoint.tensors.end();) {
      it = it->first.rfind("classifier.", 0) == 0 ? checkpoint.tensors.erase(it) : std::next(it);
    }
  }
  TrainableLoadOptions load;
  load.head = HeadType::SequenceClassification;
  load.init_seed = seed;
  load.precision = precision;
  t.model = TrainableModel::from_tensors(config, checkpoint.tensors, load, model_dir);
  const ComputeInfo info = t.model->compute_info();
  if (!info.fallback.empty()) std::fprintf(stderr, "rembert: %s requested, %s used: %s\n", info.requested.c_str(), info.compute.c_str(), info.fallback.c_str());
  train::AdamWOptions adam;
  adam.lr = kTrainLr;
  adam.beta1 = 0.9;
  adam.beta2 = 0.98;
  adam.eps = 1e-6;
  adam.weight_decay = 0.01;
  t.optimizer = std::make_unique<train::AdamW>(train::parameter_slots(*t.model, true), adam);
  t.load_s = now_seconds() - t0;
}

Case make_train_case(const std::string& spec, TrainState& t, uint64_t seed) {
  std::vector<int64_t> bs = parse_numbers(spec.substr(spec.find(':') + 1), ':', spec);
  if (bs.size() != 2) throw Error("case '" + spec + "': expected train:B:S");
  const int64_t B = bs[0], S = bs[1];
  const RemBertConfig& c = t.model->config();
  if (S > c.max_position_embeddings) {
    throw Error("case '" + spec + "': length " + std::to_string(S) + " > max_position_embeddings " +
                std::to_string(c.max_position_embeddings));
  }
  TokenStream ids{seed, c.vocab_size};
  std::vector<int64_t> v(static_cast<size_t>(B * S)), labels(static_cast<size_t>(B));
  for (auto& id : v) id = ids.next();
  for (int64_t b = 0; b < B; ++b) labels[static_cast<size_t>(b)] = b % 2;
  auto in = std::make_shared<ForwardInputs>();
  in->input_ids = Tensor::from_i64({B, S}, v);
  in->attention_mask = Tensor::from_i64({B, S}, std::vector<int64_t>(v.size(), 1));
  in->labels = Tensor::from_i64({B}, labels);
  Case out;
  out.spec = spec;
  out.tokens = B * S;
  out.run = [&t, in] {
    const double t0 = now_seconds();
    TrainStepOptions step;
    step.dropout = true;
    step.dropout_seed = t.steps++;
    t.model->zero_grad();
    t.model->forward_backward(*in, step);
    const double t1 = now_seconds();
    t.optimizer->step(kTrainLr);
    t.forward_backward_ms = (t1 - t0) * 1e3;
    t.optimizer_ms = (now_seconds() - t1) * 1e3;
  };
  return out;
}

std::string json_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  struct Options {
    std::string model_dir, dtype;
    int threads = 0, reps = 5, warmup = 1;
    uint64_t seed = 1;
    std::vector<std::string> cases;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("bench", "Time forward passes (JSON lines in the peers' format)");
  cmd->add_option("--model", o->model_dir, "Model folder (e.g. from init-random)")->required();
  cmd->add_option("--dtype", o->dtype,
                  "Compute path: float32, bfloat16, int8 (or auto, float16: weight storage) (default: float32, or "
                  "the dtype of a model written by rembert convert); train cases: float32 or bfloat16 (mixed "
                  "precision)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  cmd->add_option("--reps", o->reps, "Timed runs per case")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Untimed runs first")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Token-id seed")->capture_default_str();
  cmd->add_option("--case", o->cases,
                  "encoder:B:S, mixed:L1,L2,..., mlm-all:B:S, mlm-one:B:S, fill-mask:S, decode:P:N, decode-copy:P:N, train:B:S")
      ->required();
  return [o] {
    set_num_threads(o->threads);
    const int threads = o->threads > 0 ? o->threads : num_threads();
    // One model with the checkpoint's head, one bare RemBertModel for the encoder cases (the same one when the
    // checkpoint is a bare RemBertModel); each loaded only when a case needs it. load_s is the first load.
    const HeadType own_head = head_from_config(RemBertConfig::from_json_file(o->model_dir + "/config.json"));
    std::shared_ptr<const Model> head_model, encoder_model;
    double load_s = -1.0;
    auto model_for = [&](const std::string& spec) -> std::shared_ptr<const Model> {
      const bool bare = times_bare_encoder(kind_of(spec)) || own_head == HeadType::Model;
      std::shared_ptr<const Model>& slot = bare ? encoder_model : head_model;
      if (!slot) {
        LoadOptions load;
        if (!o->dtype.empty()) load.dtype = weight_dtype_from_name(o->dtype);
        if (bare) load.head = HeadType::Model;
        const double t0 = now_seconds();
        slot = Model::load(o->model_dir, load);
        if (load_s < 0) load_s = now_seconds() - t0;
      }
      return slot;
    };
    const std::string label = o->dtype.empty() ? "default" : o->dtype;  // the model decides (see --dtype)
    TrainState train_state;
    for (const std::string& spec : o->cases) {
      const bool training = kind_of(spec) == "train";
      if (training && !o->dtype.empty() && o->dtype != "float32" && o->dtype != "bfloat16") {
        throw Error("case '" + spec + "': training computes in float32 or bfloat16 (--dtype " + o->dtype + ")");
      }
      if (training && !train_state.model) {
        load_train_model(train_state, o->model_dir, o->seed,
                         o->dtype.empty() ? TrainPrecision::Float32 : train_precision_from_name(o->dtype));
        if (load_s < 0) load_s = train_state.load_s;
      }
      Case c = training ? make_train_case(spec, train_state, o->seed) : make_case(spec, model_for(spec), o->model_dir, o->seed);
      for (int i = 0; i < o->warmup; ++i) c.run();
      std::vector<double> runs, fb_ms, opt_ms;
      for (int i = 0; i < o->reps; ++i) {
        const double start = now_seconds();
        c.run();
        runs.push_back((now_seconds() - start) * 1e3);
        fb_ms.push_back(train_state.forward_backward_ms);
        opt_ms.push_back(train_state.optimizer_ms);
      }
      std::vector<double> sorted = runs;
      std::sort(sorted.begin(), sorted.end());
      std::string runs_json;
      for (double r : runs) runs_json += (runs_json.empty() ? "" : ", ") + json_double(r);
      std::string extra;
      if (training) {
        const double median = sorted[sorted.size() / 2];
        char steps_per_s[32];
        std::snprintf(steps_per_s, sizeof steps_per_s, "%.4g", 1e3 / median);
        extra = ", \"steps_per_s\": " + std::string(steps_per_s) + ", \"phases_median_ms\": {\"forward_backward\": " +
                json_double(median_of(fb_ms)) + ", \"optimizer\": " + json_double(median_of(opt_ms)) + "}";
      }
      std::printf("{\"peer\": \"rembert.cpp\", \"dtype\": \"%s\", \"threads\": %d, \"case\": \"%s\", \"tokens\": %lld, "
                  "\"median_ms\": %s, \"min_ms\": %s, \"runs\": [%s]%s}\n",
                  training ? train_state.model->compute_info().compute.c_str() : label.c_str(), threads, spec.c_str(), static_cast<long long>(c.tokens),
                  json_double(sorted[sorted.size() / 2]).c_str(), json_double(sorted.front()).c_str(),
                  runs_json.c_str(), extra.c_str());
      std::fflush(stdout);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("{\"peer\": \"rembert.cpp\", \"dtype\": \"%s\", \"threads\": %d, \"load_s\": %.3f, \"peak_rss_mb\": %.0f}\n",
                label.c_str(), threads, load_s, static_cast<double>(usage.ru_maxrss) / 1024.0);
  };
}

}  // namespace rembert::cli
