// /generate and /generate_stream, as text-generation-inference answers them; the stream is server-sent events.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "app.h"
#include "pipelines/common.h"
#include "rembert/error.h"

namespace rembert::server {

namespace {

// A streaming /generate: the worker pushes server-sent events, the connection thread writes them out.
struct EventChannel {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> events;
  bool finished = false;
  std::atomic<bool> cancelled{false};

  void push(std::string event, bool last = false) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(std::move(event));
      if (last) finished = true;
    }
    cv.notify_all();
  }
};

}  // namespace

void App::handle_generate(const httplib::Request& req, httplib::Response& res, bool force_stream) {
  require_head("/generate");
  GenerateRequest r = parse_generate_request(parse_body(req.body), limits(), force_stream);
  const bool stream = r.stream;
  GenerationOptions options = std::move(r.options);
  const Encoded e = encode(r.prompt, nullptr, false, Side::Right, false);
  const auto prompt_len = static_cast<int64_t>(e.ids.size());
  const int64_t max_new =
      std::max<int64_t>(1, options.max_new_tokens.value_or(pm_.model->config().max_length - prompt_len));
  if (prompt_len + max_new > max_input_length_) {
    invalid("`inputs` tokens + `max_new_tokens` must be <= " + std::to_string(max_input_length_) + ". Given: " +
            std::to_string(prompt_len) + " `inputs` tokens and " + std::to_string(max_new) + " `max_new_tokens`");
  }
  options.max_new_tokens = max_new;
  metrics_.add_input_tokens(prompt_len);
  const std::string prompt_text = r.prompt;

  if (!stream) {
    std::string result;
    // On this thread; each decode step joins the batcher's running batch (continuous batching). A client that
    // went away stops its generation at the next token (499, nginx's "client closed request", in /metrics).
    options.on_token = [](int64_t) {
      if (client_disconnected()) fail(499, "Cancelled", "the client closed the connection");
    };
    result = to_json(text_generation(batched_, prompt_text, options));
    res.set_content(result, "application/json");
    return;
  }

  // Server-sent events, one per token, as text-generation-inference sends them; the last one carries the whole
  // generated_text. The generation runs on a thread of its own (its decode steps join the batcher's running batch)
  // and stops early when the client goes away.
  auto channel = std::make_shared<EventChannel>();
  auto tokenizer = pm_.tokenizer;
  const std::vector<int64_t> prompt_ids = e.ids;
  ++generation_threads_;
  std::thread([this, channel, tokenizer, prompt_ids, prompt_text, options]() mutable {
    struct Done {
      std::atomic<int>& count;
      ~Done() { --count; }
    } done{generation_threads_};
    try {
      DecodeOptions d;
      d.skip_special_tokens = true;
      d.clean_up_tokenization_spaces = true;
      const std::set<int64_t> special(tokenizer->all_special_ids().begin(), tokenizer->all_special_ids().end());
      const int64_t prompt_chars = pipelines::code_point_count(tokenizer->decode(prompt_ids, d));
      std::vector<int64_t> so_far = prompt_ids;
      std::string printed;
      int64_t index = 0;
      bool sent_last = false;
      const std::optional<int64_t> eos = pm_.model->config().eos_token_id;
      options.on_token = [&](int64_t token) {
        if (channel->cancelled) throw Error("the client went away");
        so_far.push_back(token);
        // The text this token adds (empty while a character is incomplete), as the pipeline streams it.
        const std::string text = tokenizer->decode(so_far, d);
        const std::string fresh = pipelines::code_point_slice(text, prompt_chars, pipelines::code_point_count(text));
        std::string piece;
        if (fresh.size() > printed.size() && fresh.compare(0, printed.size(), printed) == 0) {
          piece = fresh.substr(printed.size());
          printed = fresh;
        }
        ++index;
        // Generation stops at max_new_tokens or at the end-of-sequence token: the last event carries the whole
        // text, as text-generation-inference's does.
        const bool last = index == *options.max_new_tokens || (eos && token == *eos);
        ojson event = {{"index", index},
                       {"token", {{"id", token}, {"text", piece}, {"logprob", nullptr}, {"special", special.count(token) > 0}}},
                       {"generated_text", last ? ojson((options.return_full_text ? prompt_text : "") + fresh) : ojson(nullptr)},
                       {"details", nullptr}};
        channel->push("data:" + dump(event) + "\n\n", last);
        sent_last = sent_last || last;
      };
      text_generation(batched_, prompt_text, options);
      if (!sent_last) channel->push("", true);
    } catch (const std::exception& ex) {
      ojson err = {{"error", ex.what()}, {"error_type", "Backend"}};
      channel->push("data:" + dump(err) + "\n\n", true);
    }
  }).detach();
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [channel](size_t, httplib::DataSink& sink) {
        std::unique_lock<std::mutex> lock(channel->mutex);
        channel->cv.wait(lock, [&] { return !channel->events.empty() || channel->finished; });
        while (!channel->events.empty()) {
          const std::string event = std::move(channel->events.front());
          channel->events.pop_front();
          lock.unlock();
          if (!event.empty() && !sink.write(event.data(), event.size())) {
            channel->cancelled = true;
            return false;
          }
          lock.lock();
        }
        if (channel->finished) sink.done();
        return true;
      },
      [channel](bool) { channel->cancelled = true; });
}

}  // namespace rembert::server
