// rembert-server, tested from the outside: the built binary is started on 127.0.0.1 on a free port with the fixture
// models and driven with curl, the OpenAI npm client, raw sockets (concurrency, fuzzing) and signals.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "rembert/pipelines.h"
#include "test_util.h"

namespace {

using json = nlohmann::json;
using rembert::testing::fixture_path;
using rembert::testing::read_file;
using rembert::testing::scratch_dir;
using Clock = std::chrono::steady_clock;

std::string unique_path(const std::string& stem) {
  static std::atomic<int> counter{0};
  return scratch_dir() + stem + "_" + std::to_string(counter++);
}

// The built server, started with `args` (plus --host 127.0.0.1, unless `env` sets REMBERT_PORT --port 0, and unless
// `args` or `env` set the drain --drain-seconds 0, so that stopping takes no longer than it must). The constructor
// returns once the model is loaded ("serving ... on http://127.0.0.1:PORT"), or with `until_listening` as soon as
// the port is open ("listening on http://127.0.0.1:PORT", the model still loading).
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {},
                         bool until_listening = false) {
    out_path_ = unique_path("server_out");
    err_path_ = unique_path("server_err");
    bool port_from_env = false, drain_given = false;
    for (const auto& e : env) port_from_env |= e.rfind("REMBERT_PORT=", 0) == 0;
    for (const auto& e : env) drain_given |= e.rfind("REMBERT_DRAIN_SECONDS=", 0) == 0;
    for (const auto& a : args) drain_given |= a == "--drain-seconds";
    // REMBERT_SERVER_BINARY runs these tests against another build of the server (e.g. a sanitizer build).
    const char* binary = std::getenv("REMBERT_SERVER_BINARY");
    std::vector<std::string> argv = {binary && *binary ? binary : REMBERT_SERVER_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--host");
    argv.push_back("127.0.0.1");
    if (!port_from_env) {
      argv.push_back("--port");
      argv.push_back("0");
    }
    if (!drain_given) {
      argv.push_back("--drain-seconds");
      argv.push_back("0");
    }
    pid_ = fork();
    if (pid_ == 0) {
      if (!freopen(out_path_.c_str(), "w", stdout) || !freopen(err_path_.c_str(), "w", stderr)) _exit(127);
      for (const auto& e : env) putenv(strdup(e.c_str()));
      setenv("OMP_NUM_THREADS", "2", 0);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    const std::string ready = until_listening ? "listening on http://" : "serving ";
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      const std::string out = read_file(out_path_);
      const size_t line = out.find(ready);
      const size_t at = line == std::string::npos ? line : out.find("127.0.0.1:", line);
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        port_ = std::atoi(out.c_str() + at + 10);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "rembert-server exited while starting: " << read_file(err_path_);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "rembert-server did not start: " << read_file(err_path_);
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string stderr_text() const { return read_file(err_path_); }

  // Sends `sig` and returns the exit code (-1: killed by a signal or still running after 30 s).
  int stop(int sig = SIGTERM) {
    signal(sig);
    return wait_exit();
  }
  void signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);
  }
  // The exit code once the server has exited (-1: killed by a signal or still running after 30 s).
  int wait_exit() {
    if (pid_ <= 0) return -1;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    int status = 0;
    while (Clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string out_path_, err_path_;
};

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed or closed early)
  std::string headers;
  std::string body;
};

// A minimal HTTP/1.1 client over a raw socket (Connection: close); `raw`, when given, is sent as the whole request.
HttpResponse http(int port, const std::string& method, const std::string& path, const std::string& body,
                  const std::string& extra_headers = "", const std::string* raw = nullptr, int timeout_ms = 30000) {
  HttpResponse r;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  const std::string request = raw ? *raw
                                  : method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                                        "Content-Type: application/json\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string data;
  char buf[65536];
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t head_end = data.find("\r\n\r\n");
  if (data.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(data.c_str() + 9);
  r.headers = data.substr(0, head_end);
  std::string rest = data.substr(head_end + 4);
  if (r.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    size_t pos = 0;
    while (pos < rest.size()) {
      const size_t eol = rest.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const size_t len = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      if (len == 0) break;
      r.body += rest.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
  } else {
    r.body = rest;
  }
  return r;
}

HttpResponse post(const ServerProcess& s, const std::string& path, const std::string& body,
                  const std::string& extra_headers = "") {
  return http(s.port(), "POST", path, body, extra_headers);
}

// curl, as a client would run it: returns the status and the body.
struct CurlResult {
  int status = 0;
  std::string body;
};
CurlResult curl(const std::string& args) {
  const std::string body_path = unique_path("curl_body"), code_path = unique_path("curl_code");
  const std::string cmd = "curl -s -S --max-time 30 -o " + body_path + " -w '%{http_code}' " + args + " > " + code_path;
  std::system(cmd.c_str());
  return CurlResult{std::atoi(read_file(code_path).c_str()), read_file(body_path)};
}
CurlResult curl_post(const ServerProcess& s, const std::string& path, const std::string& body,
                     const std::string& extra = "") {
  const std::string in = unique_path("curl_in");
  std::ofstream(in, std::ios::binary) << body;
  return curl("-X POST -H 'Content-Type: application/json' --data-binary @" + in + " " + extra + " " + s.url(path));
}
CurlResult curl_get(const ServerProcess& s, const std::string& path, const std::string& extra = "") {
  return curl(extra + " " + s.url(path));
}

std::vector<float> floats(const json& j) { return j.get<std::vector<float>>(); }

::testing::AssertionResult close_to(const std::vector<float>& a, const std::vector<float>& b, double atol = 1e-5) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "size " << a.size() << " != " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(static_cast<double>(a[i]) - b[i]) <= atol + 1e-5 * std::abs(b[i]))) {
      return ::testing::AssertionFailure() << "at " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<float> tensor_values(const rembert::Tensor& t) { return t.to_f32_vector(); }

void expect_error(const CurlResult& r, int status, const std::string& type, const std::string& part = "") {
  EXPECT_EQ(r.status, status) << r.body;
  json body;
  ASSERT_NO_THROW(body = json::parse(r.body)) << r.body;
  EXPECT_EQ(body.value("error_type", ""), type) << r.body;
  EXPECT_CONTAINS(body.value("error", ""), part);
}

rembert::PipelineModel load(const std::string& name) {
  return rembert::load_pipeline_model(fixture_path("models/" + name));
}

// ---------------------------------------------------------------- embeddings, tokenizer, info, metrics

// /info says how the products are computed, as `rembert info` does: the path, the threads, the CPU flags and
// oneDNN's kernels.
TEST(Server, InfoNamesTheComputePath) {
  ServerProcess server({"--model", fixture_path("models/base"), "--dtype", "int8", "--threads", "1"});
  ASSERT_GT(server.port(), 0);
  const CurlResult r = curl_get(server, "/info");
  ASSERT_EQ(r.status, 200);
  const json c = json::parse(r.body)["compute"];
  EXPECT_EQ(c["requested"], "int8");
  EXPECT_EQ(c["compute"], "int8");  // int8 runs on every x86-64 CPU
  EXPECT_EQ(c["threads"], 1);
  EXPECT_EQ(c["cpu_flags"], json(rembert::cpu_flags()));
  EXPECT_EQ(c["onednn"], rembert::onednn_version());
  EXPECT_GT(c["packed_weight_bytes"].get<int64_t>(), 0);
  ASSERT_TRUE(c["kernels_at_128_rows"].is_object());
  EXPECT_FALSE(c["kernels_at_128_rows"].empty()) << c.dump();
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, EmbeddingRoutesWithCurl) {
  ServerProcess server({"--model", fixture_path("models/base")});
  ASSERT_GT(server.port(), 0);
  const rembert::PipelineModel pm = load("base");
  const std::string a = "Hello world", b = "The capital of France is Paris.";

  EXPECT_EQ(curl_get(server, "/health").status, 200);

  const CurlResult info = curl_get(server, "/info");
  ASSERT_EQ(info.status, 200);
  const json i = json::parse(info.body);
  EXPECT_EQ(i["model_type"]["embedding"]["pooling"], "cls");
  EXPECT_EQ(i["max_input_length"], 64);
  EXPECT_EQ(i["model_dtype"], "float32");
  EXPECT_EQ(i["architecture"], "RemBertModel");
  EXPECT_EQ(i["routes"], json({"/health", "/info", "/metrics", "/tokenize", "/decode", "/embed", "/embed_all",
                               "/v1/embeddings"}));

  EXPECT_EQ(i["compute"]["requested"], "float32");
  EXPECT_EQ(i["compute"]["compute"], "float32");
  EXPECT_TRUE(i["compute"]["fallback"].is_null());

  // /embed: CLS pooling and L2 normalisation by default, as the library's feature extraction computes them.
  rembert::FeatureExtractionOptions cls;
  cls.pooling = rembert::Pooling::Cls;
  cls.normalize = true;
  CurlResult r = curl_post(server, "/embed", json{{"inputs", a}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json v = json::parse(r.body);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(close_to(floats(v[0]), tensor_values(rembert::feature_extraction(pm, a, cls))));

  rembert::FeatureExtractionOptions mean;
  mean.pooling = rembert::Pooling::Mean;
  r = curl_post(server, "/embed", json{{"inputs", {a, b}}, {"pooling", "mean"}, {"normalize", false}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  v = json::parse(r.body);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(close_to(floats(v[0]), tensor_values(rembert::feature_extraction(pm, a, mean))));
  EXPECT_TRUE(close_to(floats(v[1]), tensor_values(rembert::feature_extraction(pm, b, mean))));

  // Matryoshka-style `dimensions`: truncated, then normalised.
  r = curl_post(server, "/embed", json{{"inputs", a}, {"dimensions", 8}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<float> d8 = floats(json::parse(r.body)[0]);
  ASSERT_EQ(d8.size(), 8u);
  double norm = 0;
  for (float x : d8) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);

  // Token ids are used as they are.
  const rembert::Encoding enc = pm.tokenizer->encode(a);
  r = curl_post(server, "/embed", json{{"inputs", enc.input_ids}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(close_to(floats(json::parse(r.body)[0]), tensor_values(rembert::feature_extraction(pm, a, cls))));

  // /embed_all: every token's vector.
  r = curl_post(server, "/embed_all", json{{"inputs", {a}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  v = json::parse(r.body);
  const rembert::Tensor all = rembert::feature_extraction(pm, a);  // [1, L, H]
  ASSERT_EQ(v.size(), 1u);
  ASSERT_EQ(static_cast<int64_t>(v[0].size()), all.dim(1));
  std::vector<float> flat;
  for (const json& token : v[0]) {
    for (float x : floats(token)) flat.push_back(x);
  }
  EXPECT_TRUE(close_to(flat, tensor_values(all)));

  // /v1/embeddings: float and base64 (little-endian float32) carry the same vectors; usage counts tokens.
  r = curl_post(server, "/v1/embeddings", json{{"input", {a, b}}, {"model", "whatever"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json f = json::parse(r.body);
  EXPECT_EQ(f["object"], "list");
  EXPECT_EQ(f["model"], fixture_path("models/base"));
  ASSERT_EQ(f["data"].size(), 2u);
  EXPECT_EQ(f["data"][1]["index"], 1);
  EXPECT_EQ(f["data"][0]["object"], "embedding");
  EXPECT_TRUE(close_to(floats(f["data"][0]["embedding"]), tensor_values(rembert::feature_extraction(pm, a, cls))));
  const int64_t tokens = static_cast<int64_t>(enc.input_ids.size() + pm.tokenizer->encode(b).input_ids.size());
  EXPECT_EQ(f["usage"]["prompt_tokens"], tokens);
  EXPECT_EQ(f["usage"]["total_tokens"], tokens);
  r = curl_post(server, "/v1/embeddings", json{{"input", {a, b}}, {"encoding_format", "base64"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json b64 = json::parse(r.body);
  const std::string encoded = b64["data"][1]["embedding"].get<std::string>();
  // Decode with base64(1) so that the check does not share code with the server.
  const std::string enc_path = unique_path("b64"), dec_path = unique_path("b64_dec");
  std::ofstream(enc_path) << encoded;
  ASSERT_EQ(std::system(("base64 -d " + enc_path + " > " + dec_path).c_str()), 0);
  const std::string bytes = read_file(dec_path);
  std::vector<float> decoded(bytes.size() / sizeof(float));
  std::memcpy(decoded.data(), bytes.data(), decoded.size() * sizeof(float));
  EXPECT_EQ(decoded, floats(f["data"][1]["embedding"]));
  r = curl_post(server, "/v1/embeddings", json{{"input", {enc.input_ids, enc.input_ids}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"].size(), 2u);

  // /tokenize and /decode.
  r = curl_post(server, "/tokenize", json{{"inputs", a}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json tk = json::parse(r.body);
  ASSERT_EQ(tk.size(), 1u);
  ASSERT_EQ(tk[0].size(), enc.input_ids.size());
  for (size_t k = 0; k < enc.input_ids.size(); ++k) EXPECT_EQ(tk[0][k]["id"], enc.input_ids[k]);
  EXPECT_EQ(tk[0][0]["special"], true);
  EXPECT_EQ(tk[0][0]["text"], "[CLS]");
  EXPECT_TRUE(tk[0][0]["start"].is_null());
  EXPECT_EQ(tk[0][1]["special"], false);
  EXPECT_EQ(tk[0][1]["start"], 0);
  r = curl_post(server, "/tokenize", json{{"inputs", {a, b}}, {"add_special_tokens", false}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)[0].size(), enc.input_ids.size() - 2);
  r = curl_post(server, "/decode", json{{"ids", enc.input_ids}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  rembert::DecodeOptions skip;
  skip.skip_special_tokens = true;
  EXPECT_EQ(json::parse(r.body), json({pm.tokenizer->decode(enc.input_ids, skip)}));
  r = curl_post(server, "/decode", json{{"ids", {enc.input_ids, enc.input_ids}}, {"skip_special_tokens", false}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)[1], pm.tokenizer->decode(enc.input_ids));

  // Routes of other heads: a clear 424.
  for (const char* route : {"/predict", "/rerank", "/fill-mask", "/token-classification", "/question-answering",
                            "/generate"}) {
    expect_error(curl_post(server, route, json{{"inputs", a}}.dump()), 424, "Backend", "RemBertModel");
  }

  // /metrics: Prometheus text with the request counts, queue, batches and latency histograms.
  r = curl_get(server, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_CONTAINS(r.body, "rembert_requests_total{route=\"/embed\",status=\"200\"} 4");
  EXPECT_CONTAINS(r.body, "rembert_requests_total{route=\"/predict\",status=\"424\"} 1");
  EXPECT_CONTAINS(r.body, "rembert_queue_size 0");
  EXPECT_CONTAINS(r.body, "rembert_batch_size_bucket{le=\"+Inf\"}");
  EXPECT_CONTAINS(r.body, "rembert_batch_tokens_count");
  EXPECT_CONTAINS(r.body, "rembert_request_duration_seconds_bucket{route=\"/embed\",le=\"0.001\"}");
  EXPECT_CONTAINS(r.body, "# TYPE rembert_request_duration_seconds histogram");

  EXPECT_EQ(server.stop(SIGINT), 0) << server.stderr_text();
}

// ---------------------------------------------------------------- classification and rerank

std::vector<rembert::LabelScore> all_labels(const rembert::PipelineModel& pm, const std::string& text,
                                            const std::string* pair, rembert::ClassificationFunction fn) {
  rembert::TextClassificationOptions o;
  o.top_k = 0;
  o.function_to_apply = fn;
  return rembert::text_classification(pm, text, pair, o);
}

void expect_predictions(const json& got, const std::vector<rembert::LabelScore>& want) {
  ASSERT_EQ(got.size(), want.size()) << got;
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got[k]["label"], want[k].label) << got;
    EXPECT_NEAR(got[k]["score"].get<double>(), want[k].score, 1e-5) << got;
  }
}

TEST(Server, PredictAndRerankWithCurl) {
  using rembert::ClassificationFunction;
  const rembert::PipelineModel pm = load("seqcls");
  const std::string a = "I loved this film", b = "it was terrible";
  {
    ServerProcess server({"--model", fixture_path("models/seqcls")});
    ASSERT_GT(server.port(), 0);
    CurlResult r = curl_post(server, "/predict", json{{"inputs", a}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    expect_predictions(json::parse(r.body), all_labels(pm, a, nullptr, ClassificationFunction::Softmax));
    r = curl_post(server, "/predict", json{{"inputs", {a, b}}}.dump());  // one pair
    ASSERT_EQ(r.status, 200) << r.body;
    expect_predictions(json::parse(r.body), all_labels(pm, a, &b, ClassificationFunction::Softmax));
    r = curl_post(server, "/predict", json{{"inputs", {{a}, {a, b}}}, {"raw_scores", true}}.dump());  // a batch
    ASSERT_EQ(r.status, 200) << r.body;
    const json batch = json::parse(r.body);
    ASSERT_EQ(batch.size(), 2u);
    expect_predictions(batch[0], all_labels(pm, a, nullptr, ClassificationFunction::None));
    expect_predictions(batch[1], all_labels(pm, a, &b, ClassificationFunction::None));
    const json info = json::parse(curl_get(server, "/info").body);
    EXPECT_EQ(info["model_type"]["classifier"]["id2label"]["2"], "LABEL_2");
    // Three labels: not a re-ranker.
    expect_error(curl_post(server, "/rerank", json{{"query", a}, {"texts", {b}}}.dump()), 424, "Backend",
                 "re-ranker");
    expect_error(curl_post(server, "/embed", json{{"inputs", a}}.dump()), 424, "Backend");
    EXPECT_EQ(server.stop(), 0);
  }
  {
    // One label: a re-ranker. Scores are sigmoid(logit) (raw_scores: the logit), sorted best first.
    const rembert::PipelineModel rm = load("seqcls_regression");
    ServerProcess server({"--model", fixture_path("models/seqcls_regression")});
    ASSERT_GT(server.port(), 0);
    const std::vector<std::string> texts = {"Paris is the capital of France.", "I like trains", "Berlin"};
    const std::string query = "What is the capital of France?";
    CurlResult r = curl_post(server, "/rerank", json{{"query", query}, {"texts", texts}, {"return_text", true}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json ranks = json::parse(r.body);
    ASSERT_EQ(ranks.size(), 3u);
    double previous = 2;
    for (const json& rank : ranks) {
      const size_t index = rank["index"].get<size_t>();
      ASSERT_LT(index, texts.size());
      EXPECT_EQ(rank["text"], texts[index]);
      const double want = all_labels(rm, query, &texts[index], ClassificationFunction::Sigmoid)[0].score;
      EXPECT_NEAR(rank["score"].get<double>(), want, 1e-5);
      EXPECT_LE(rank["score"].get<double>(), previous);
      previous = rank["score"].get<double>();
    }
    r = curl_post(server, "/rerank", json{{"query", query}, {"texts", texts}, {"raw_scores", true}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    ranks = json::parse(r.body);
    EXPECT_FALSE(ranks[0].contains("text"));
    const size_t top = ranks[0]["index"].get<size_t>();
    EXPECT_NEAR(ranks[0]["score"].get<double>(),
                all_labels(rm, query, &texts[top], ClassificationFunction::None)[0].score, 1e-5);
    expect_error(curl_post(server, "/rerank", json{{"query", query}, {"texts", json::array()}}.dump()), 422,
                 "Validation", "cannot be empty");
    expect_error(curl_post(server, "/rerank", json{{"texts", texts}}.dump()), 422, "Validation", "`query`");
    EXPECT_EQ(server.stop(), 0);
  }
}

// ---------------------------------------------------------------- pipelines: the CLI's JSON, byte for byte

TEST(Server, PipelineRoutesWithCurl) {
  {
    const rembert::PipelineModel pm = load("mlm");
    ServerProcess server({"--model", fixture_path("models/mlm")});
    ASSERT_GT(server.port(), 0);
    const std::string a = "The capital of France is [MASK].", b = "Hello [MASK] [MASK] world";
    rembert::FillMaskOptions o;
    o.top_k = 3;
    CurlResult r = curl_post(server, "/fill-mask", json{{"inputs", a}, {"parameters", {{"top_k", 3}}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, rembert::to_json(rembert::fill_mask(pm, a, o)));
    r = curl_post(server, "/fill-mask", json{{"inputs", {a, b}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "[" + rembert::to_json(rembert::fill_mask(pm, a)) + ", " +
                          rembert::to_json(rembert::fill_mask(pm, b)) + "]");
    expect_error(curl_post(server, "/fill-mask", json{{"inputs", "no mask here"}}.dump()), 422, "Validation", "mask");
    expect_error(curl_post(server, "/fill-mask", json{{"inputs", "Paris is the <mask> of France."}}.dump()), 422,
                 "Validation", "the text holds `<mask>`, which is not this model's mask token: write `[MASK]`");
    EXPECT_EQ(server.stop(), 0);
  }
  {
    const rembert::PipelineModel pm = load("tokcls");
    ServerProcess server({"--model", fixture_path("models/tokcls")});
    ASSERT_GT(server.port(), 0);
    const std::string a = "My name is Wolfgang and I live in Berlin";
    rembert::TokenClassificationOptions o;
    o.aggregation_strategy = rembert::AggregationStrategy::Simple;
    CurlResult r = curl_post(server, "/token-classification",
                             json{{"inputs", a}, {"parameters", {{"aggregation_strategy", "simple"}}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, rembert::to_json(rembert::token_classification(pm, a, o)));
    r = curl_post(server, "/token-classification", json{{"inputs", {a}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "[" + rembert::to_json(rembert::token_classification(pm, a)) + "]");
    EXPECT_EQ(server.stop(), 0);
  }
  {
    const rembert::PipelineModel pm = load("qa");
    ServerProcess server({"--model", fixture_path("models/qa")});
    ASSERT_GT(server.port(), 0);
    const std::string q = "Where do I live?", c = "My name is Wolfgang and I live in Berlin.";
    rembert::QuestionAnsweringOptions o;
    o.max_seq_len = 64;
    o.top_k = 2;
    CurlResult r = curl_post(
        server, "/question-answering",
        json{{"inputs", {{"question", q}, {"context", c}}}, {"parameters", {{"top_k", 2}, {"max_seq_len", 64}}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, rembert::to_json(rembert::question_answering(pm, q, c, o), false));
    r = curl_post(server, "/question-answering", json{{"question", q}, {"context", c}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    o.top_k = 1;
    EXPECT_EQ(r.body, rembert::to_json(rembert::question_answering(pm, q, c, o), true));
    expect_error(curl_post(server, "/question-answering", json{{"inputs", {{"question", q}}}}.dump()), 422,
                 "Validation", "context");
    EXPECT_EQ(server.stop(), 0);
  }
  {
    const rembert::PipelineModel pm = load("clm");
    ServerProcess server({"--model", fixture_path("models/clm")});
    ASSERT_GT(server.port(), 0);
    rembert::GenerationOptions o;
    o.max_new_tokens = 6;
    const rembert::GenerationResult want = rembert::text_generation(pm, "Hello world", o);
    CurlResult r = curl_post(server, "/generate",
                             json{{"inputs", "Hello world"}, {"parameters", {{"max_new_tokens", 6}}}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, rembert::to_json(want));
    // Streaming: one server-sent event per token, the last one carrying the whole generated_text.
    r = curl_post(server, "/generate",
                  json{{"inputs", "Hello world"}, {"stream", true}, {"parameters", {{"max_new_tokens", 6}}}}.dump(),
                  "-N");
    ASSERT_EQ(r.status, 200) << r.body;
    std::vector<json> events;
    size_t pos = 0;
    while ((pos = r.body.find("data:", pos)) != std::string::npos) {
      const size_t end = r.body.find("\n\n", pos);
      ASSERT_NE(end, std::string::npos) << r.body;
      events.push_back(json::parse(r.body.substr(pos + 5, end - pos - 5)));
      pos = end;
    }
    ASSERT_EQ(events.size(), want.generated_ids.size()) << r.body;
    std::string streamed;
    for (size_t k = 0; k < events.size(); ++k) {
      EXPECT_EQ(events[k]["index"], k + 1);
      EXPECT_EQ(events[k]["token"]["id"], want.generated_ids[k]);
      streamed += events[k]["token"]["text"].get<std::string>();
      if (k + 1 < events.size()) {
        EXPECT_TRUE(events[k]["generated_text"].is_null());
      }
    }
    EXPECT_EQ(events.back()["generated_text"], want.generated_text);
    EXPECT_EQ("Hello world" + streamed, want.generated_text);
    expect_error(curl_post(server, "/generate", json{{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", 500}}}}.dump()),
                 422, "Validation", "max_new_tokens");
    expect_error(curl_post(server, "/generate", json{{"inputs", "Hi"}, {"parameters", {{"top_p", 2}}}}.dump()), 422,
                 "Validation", "top_p");
    EXPECT_EQ(server.stop(), 0);
  }
}

// ---------------------------------------------------------------- limits and errors

TEST(Server, ErrorPaths) {
  ServerProcess server({"--model", fixture_path("models/base"), "--payload-limit", "4096", "--api-key", "sekret",
                        "--max-client-batch-size", "4"});
  ASSERT_GT(server.port(), 0);
  const std::string key = "-H 'Authorization: Bearer sekret'";
  const std::string ok = json{{"inputs", "Hello world"}}.dump();

  // 401: missing or wrong key; /health stays open for probes.
  expect_error(curl_post(server, "/embed", ok), 401, "Unauthorized", "API key");
  expect_error(curl_post(server, "/embed", ok, "-H 'Authorization: Bearer wrong'"), 401, "Unauthorized");
  expect_error(curl_get(server, "/metrics"), 401, "Unauthorized");
  EXPECT_EQ(curl_get(server, "/health").status, 200);
  EXPECT_EQ(curl_post(server, "/embed", ok, key).status, 200);

  // 413: over --payload-limit (also without a key: the size is checked first).
  const std::string big = json{{"inputs", std::string(100000, 'a')}}.dump();
  expect_error(curl_post(server, "/embed", big, key), 413, "Validation", "payload");
  expect_error(curl_post(server, "/embed", big), 413, "Validation", "payload");

  // 422: invalid JSON, wrong types, empty inputs, too long without truncation, too many inputs.
  expect_error(curl_post(server, "/embed", "{\"inputs\": ", key), 422, "Validation", "not valid JSON");
  expect_error(curl_post(server, "/embed", "[1, 2]", key), 422, "Validation", "JSON object");
  expect_error(curl_post(server, "/embed", "{}", key), 422, "Validation", "`inputs` is required");
  expect_error(curl_post(server, "/embed", R"({"inputs": 12})", key), 422, "Validation", "`inputs`");
  expect_error(curl_post(server, "/embed", R"({"inputs": [{"a": 1}]})", key), 422, "Validation", "`inputs`");
  expect_error(curl_post(server, "/embed", R"({"inputs": "x", "normalize": "yes"})", key), 422, "Validation",
               "`normalize` must be a boolean");
  expect_error(curl_post(server, "/embed", R"({"inputs": "x", "pooling": "max"})", key), 422, "Validation", "pooling");
  expect_error(curl_post(server, "/embed", R"({"inputs": "x", "truncation_direction": "up"})", key), 422,
               "Validation", "truncation_direction");
  expect_error(curl_post(server, "/embed", R"({"inputs": ""})", key), 422, "Validation", "cannot be empty");
  expect_error(curl_post(server, "/embed", R"({"inputs": []})", key), 422, "Validation", "cannot be empty");
  expect_error(curl_post(server, "/embed", R"({"inputs": [[]]})", key), 422, "Validation", "cannot be empty");
  expect_error(curl_post(server, "/embed", R"({"inputs": [5, 99999999]})", key), 422, "Validation", "vocabulary");
  expect_error(curl_post(server, "/embed", R"({"inputs": ["a", "b", "c", "d", "e"]})", key), 422, "Validation",
               "batch size 5 > maximum allowed batch size 4");
  std::string long_text;
  for (int k = 0; k < 80; ++k) long_text += "word ";
  expect_error(curl_post(server, "/embed", json{{"inputs", long_text}}.dump(), key), 422, "Validation",
               "must have less than 64 tokens");
  EXPECT_EQ(curl_post(server, "/embed", json{{"inputs", long_text}, {"truncate", true}}.dump(), key).status, 200);
  expect_error(curl_post(server, "/decode", R"({"ids": [1, -5]})", key), 422, "Tokenizer", "vocabulary");
  expect_error(curl_post(server, "/tokenize", R"({"inputs": [1]})", key), 422, "Validation", "strings");

  // /v1/embeddings errors: TEI's OpenAI-compatible body (message, code, type) plus OpenAI's nested error.
  CurlResult r = curl_post(server, "/v1/embeddings", R"({"input": "x", "encoding_format": "hex"})", key);
  EXPECT_EQ(r.status, 422);
  json body = json::parse(r.body);
  EXPECT_EQ(body["code"], 422);
  EXPECT_EQ(body["type"], "Validation");
  EXPECT_CONTAINS(body["message"].get<std::string>(), "encoding_format");
  EXPECT_EQ(body["error"]["message"], body["message"]);

  // Unknown routes: 404 with a JSON body.
  expect_error(curl_get(server, "/nope", key), 404, "NotFound", "/nope");

  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, TooManyConcurrentRequestsGet429) {
  // The worker holds every batch 800 ms, so the first two requests are in flight while the others arrive.
  ServerProcess server({"--model", fixture_path("models/base"), "--max-concurrent-requests", "2",
                        "--debug-batch-delay-ms", "800"});
  ASSERT_GT(server.port(), 0);
  std::vector<HttpResponse> responses(6);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < responses.size(); ++k) {
    threads.emplace_back([&, k] { responses[k] = post(server, "/embed", json{{"inputs", "Hello world"}}.dump()); });
  }
  for (auto& t : threads) t.join();
  int ok = 0, overloaded = 0;
  for (const HttpResponse& r : responses) {
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++overloaded;
      const json body = json::parse(r.body);
      EXPECT_EQ(body["error_type"], "Overloaded");
      EXPECT_CONTAINS(body["error"].get<std::string>(), "overloaded");
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_LE(ok, 2);
  EXPECT_EQ(ok + overloaded, 6);
  // Afterwards the slots are free again.
  EXPECT_EQ(post(server, "/embed", json{{"inputs", "Hello world"}}.dump()).status, 200);
  EXPECT_EQ(server.stop(), 0);
}

// ---------------------------------------------------------------- malformed input never crashes the server

std::string random_body(std::mt19937& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  static const std::vector<std::string> keys = {
      "inputs", "input", "texts", "query", "ids", "normalize", "truncate", "pooling", "parameters", "top_k", "stream",
      "encoding_format", "dimensions", "raw_scores", "return_text", "truncation_direction", "add_special_tokens",
      "skip_special_tokens", "max_new_tokens", "question", "context", "targets", "aggregation_strategy", "stride",
      "max_seq_len", "doc_stride", "max_answer_len", "temperature", "top_p", "do_sample", "seed", "model"};
  static const std::vector<std::string> strings = {
      "", "Hello world", "[MASK]", "a [MASK] b", "cls", "mean", "base64", "float", "simple", "Left", "\xc3\xa9t\xc3\xa9",
      "\xf0\x9f\x98\x80 emoji", "[CLS] [SEP] [PAD]", std::string(300, 'x'), "\\u0000", "null"};
  std::function<json(int)> value = [&](int depth) -> json {
    switch (pick(depth > 3 ? 6 : 9)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: {
        static const std::vector<int64_t> ints = {0, 1, -1, 2, 3, 5, 64, 65, 1999, 2000, -100000, INT64_MAX, INT64_MIN};
        return ints[pick(ints.size())];
      }
      case 3: return std::vector<double>{0.5, -1.5, 1e308, -0.0, 2.0, 1e-9}[pick(6)];
      case 4:
      case 5: return strings[pick(strings.size())];
      case 6: {
        json a = json::array();
        for (size_t k = pick(5); k > 0; --k) a.push_back(value(depth + 1));
        return a;
      }
      case 7: {
        json a = json::array();  // token ids
        for (size_t k = pick(70); k > 0; --k) a.push_back(static_cast<int64_t>(pick(2100)) - 50);
        return a;
      }
      default: {
        json o = json::object();
        for (size_t k = pick(5); k > 0; --k) o[keys[pick(keys.size())]] = value(depth + 1);
        return o;
      }
    }
  };
  switch (pick(10)) {
    case 0: {
      std::string bytes(pick(200), '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      return bytes;
    }
    case 1: return std::string(pick(20000) + 1, '[');  // deep nesting
    case 2: {
      std::string s = value(0).dump();
      return s.substr(0, pick(s.size() + 1));  // truncated
    }
    default: {
      json o = json::object();
      for (size_t k = pick(6); k > 0; --k) o[keys[pick(keys.size())]] = value(1);
      return o.dump();
    }
  }
}

TEST(Server, MalformedInputNeverCrashes) {
  const std::vector<std::pair<std::string, int>> models = {
      {"base", 160}, {"seqcls_regression", 60}, {"mlm", 60}, {"clm", 60}, {"tokcls", 30}, {"qa", 30}};
  const std::vector<std::string> routes = {"/embed", "/embed_all", "/v1/embeddings", "/predict", "/rerank",
                                           "/tokenize", "/decode", "/fill-mask", "/token-classification",
                                           "/question-answering", "/generate"};
  std::mt19937 rng(1234);
  for (const auto& [model, count] : models) {
    ServerProcess server({"--model", fixture_path("models/" + model), "--max-client-batch-size", "8"});
    ASSERT_GT(server.port(), 0);
    for (int k = 0; k < count; ++k) {
      const std::string route = routes[rng() % routes.size()];
      const std::string body = random_body(rng);
      const HttpResponse r = post(server, route, body);
      ASSERT_GT(r.status, 0) << "no answer to " << route << " " << body.substr(0, 300);
      EXPECT_LT(r.status, 500) << route << " " << body.substr(0, 300) << " -> " << r.body;
      if (r.headers.find("text/event-stream") != std::string::npos) continue;
      json parsed;
      EXPECT_NO_THROW(parsed = json::parse(r.body)) << route << " " << body.substr(0, 300) << " -> " << r.body;
      if (r.status != 200) {
        EXPECT_TRUE(parsed.contains("error")) << r.body;
      }
    }
    // Broken HTTP itself.
    for (const std::string& raw : {std::string("GARBAGE\r\n\r\n"), std::string("POST /embed HTTP/1.1\r\nContent-Length: "
                                                                              "-5\r\n\r\n{}"),
                                  std::string("POST /embed HTTP/1.1\r\nContent-Length: 99999\r\n\r\n{\"inp"),
                                  std::string("POST /embed HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
      http(server.port(), "", "", "", "", &raw, 200);
    }
    const HttpResponse health = http(server.port(), "GET", "/health", "");
    EXPECT_EQ(health.status, 200) << model;
    EXPECT_EQ(server.stop(), 0) << model << ": " << server.stderr_text();
  }
}

// ---------------------------------------------------------------- 64 concurrent clients, each its own answer

// A value of the /metrics text (-1 when the metric is missing).
double metric_value(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find(name + " ");
  return at == std::string::npos ? -1.0 : std::atof(metrics.c_str() + at + name.size() + 1);
}

TEST(Server, ConcurrentClientsEachGetTheirOwnAnswer) {
  ServerProcess server({"--model", fixture_path("models/base"), "--max-batch-tokens", "512"});
  ASSERT_GT(server.port(), 0);
  constexpr int kClients = 64;
  std::vector<std::string> texts;
  const std::vector<std::string> words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"};
  for (int c = 0; c < kClients; ++c) {
    std::string t = "client " + std::to_string(c);
    for (int k = 0; k < 1 + c % 9; ++k) t += " " + words[static_cast<size_t>(c + k) % words.size()];
    texts.push_back(t);
  }
  // Single-request answers first (each request then runs alone).
  std::vector<std::vector<float>> expected;
  for (const std::string& t : texts) {
    const HttpResponse r = post(server, "/embed", json{{"inputs", t}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    expected.push_back(floats(json::parse(r.body)[0]));
  }
  std::atomic<int> requests{0}, errors{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  const auto until = Clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      int round = 0;
      while (Clock::now() < until) {
        // Every other round two inputs in one request: both answers must come back in order.
        const int other = (c + 1 + round) % kClients;
        const bool pair = round++ % 2 == 1;
        const json inputs = pair ? json{texts[static_cast<size_t>(c)], texts[static_cast<size_t>(other)]}
                                 : json(texts[static_cast<size_t>(c)]);
        const HttpResponse r = post(server, "/embed", json{{"inputs", inputs}}.dump());
        ++requests;
        bool good = r.status == 200;
        if (good) {
          const json v = json::parse(r.body);
          good = v.size() == (pair ? 2u : 1u) && close_to(floats(v[0]), expected[static_cast<size_t>(c)]) &&
                 (!pair || close_to(floats(v[1]), expected[static_cast<size_t>(other)]));
        }
        if (!good) {
          ++errors;
          std::lock_guard<std::mutex> lock(failures_mutex);
          if (failures.size() < 3) failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0) << (failures.empty() ? "" : failures[0]);
  EXPECT_GE(requests.load(), kClients);
  // Requests were batched: some forward pass held more than one sequence.
  const std::string metrics = http(server.port(), "GET", "/metrics", "").body;
  auto metric = [&](const std::string& name) { return metric_value(metrics, name); };
  const double batches = metric("rembert_batch_size_count"), singles = metric("rembert_batch_size_bucket{le=\"1\"}");
  EXPECT_GT(batches, 0);
  EXPECT_LT(singles, batches) << "no forward pass batched two sequences";
  std::printf("[ info     ] %d requests from %d clients in 3 s, %.0f forward passes, %.0f of one sequence\n",
              requests.load(), kClients, batches, singles);
  EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

// Same structure and strings, numbers within atol (a pipeline's scores in a batch may differ in the last bits from
// the same sequence alone).
bool json_close(const json& a, const json& b, double atol = 1e-5) {
  if (a.is_number() && b.is_number()) return std::abs(a.get<double>() - b.get<double>()) <= atol;
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!json_close(a[i], b[i], atol)) return false;
    }
    return true;
  }
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !json_close(it.value(), b[it.key()], atol)) return false;
    }
    return true;
  }
  return a == b;
}

// The pipeline routes go through the batcher's queue too: under concurrent clients their forwards share batches,
// and every answer is still the library pipeline's answer for that input alone.
TEST(Server, PipelineRoutesShareBatchesUnderLoad) {
  struct Route {
    const char* model;
    const char* path;
    std::vector<json> bodies;
    std::vector<std::string> expected;
  };
  // Each route's bodies and the library pipeline's answer to each, for that route's fixture model.
  auto make_route = [](const char* model, const char* path, const std::vector<std::string>& inputs, auto body, auto answer) {
    const rembert::PipelineModel pm = load(model);
    Route r{model, path, {}, {}};
    for (const std::string& input : inputs) {
      r.bodies.push_back(body(input));
      r.expected.push_back(answer(pm, input));
    }
    return r;
  };
  const auto text_body = [](const std::string& t) { return json{{"inputs", t}}; };
  const std::string context = "My name is Wolfgang and I live in Berlin.";
  const std::vector<Route> routes = {
      make_route("mlm", "/fill-mask",
            {"The capital of France is [MASK].", "Hello [MASK] [MASK] world", "[MASK] is a word",
             "one two three [MASK] five six seven eight nine"},
            text_body, [](const rembert::PipelineModel& pm, const std::string& t) {
              return rembert::to_json(rembert::fill_mask(pm, t));
            }),
      make_route("tokcls", "/token-classification",
            {"My name is Wolfgang and I live in Berlin", "Hello world", "Paris is in France",
             "a b c d e f g h i j k l m n o p"},
            text_body, [](const rembert::PipelineModel& pm, const std::string& t) {
              return rembert::to_json(rembert::token_classification(pm, t));
            }),
      make_route("qa", "/question-answering",
            {"Where do I live?", "What is my name?", "Who?", "Where is Berlin and who lives there?"},
            [&](const std::string& q) { return json{{"question", q}, {"context", context}}; },
            [&](const rembert::PipelineModel& pm, const std::string& q) {
              return rembert::to_json(rembert::question_answering(pm, q, context, {}), true);
            })};
  for (const Route& route : routes) {
    SCOPED_TRACE(route.path);
    ServerProcess server({"--model", fixture_path(std::string("models/") + route.model)});
    ASSERT_GT(server.port(), 0);
    constexpr int kClients = 16;
    std::atomic<int> requests{0}, errors{0};
    std::mutex failures_mutex;
    std::string failure;
    const auto until = Clock::now() + std::chrono::milliseconds(1500);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        for (size_t round = 0; Clock::now() < until; ++round) {
          const size_t i = (static_cast<size_t>(c) + round) % route.bodies.size();
          const HttpResponse r = post(server, route.path, route.bodies[i].dump());
          ++requests;
          if (r.status != 200 || !json_close(json::parse(r.body), json::parse(route.expected[i]))) {
            ++errors;
            std::lock_guard<std::mutex> lock(failures_mutex);
            failure = std::to_string(r.status) + " " + r.body.substr(0, 300) + " expected " + route.expected[i];
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(errors.load(), 0) << failure;
    const std::string metrics = http(server.port(), "GET", "/metrics", "").body;
    auto metric = [&](const std::string& name) { return metric_value(metrics, name); };
    const double batches = metric("rembert_batch_size_count"), singles = metric("rembert_batch_size_bucket{le=\"1\"}");
    EXPECT_GT(batches, 0);
    EXPECT_LT(singles, batches) << "no forward pass batched two sequences";
    std::printf("[ info     ] %s: %d requests from %d clients, %.0f forward passes, %.0f of one sequence\n", route.path,
                requests.load(), kClients, batches, singles);
    std::fflush(stdout);  // before the next server's fork copies the buffer
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
  }
}

// /generate under concurrent clients: the decode steps of the running generations share forwards (continuous
// batching: each sequence with its own cache, joining and leaving between steps), and every answer, streamed or
// not, is the library's greedy answer for that prompt alone.
TEST(Server, GenerationsShareDecodeSteps) {
  const rembert::PipelineModel pm = load("clm");
  const std::vector<std::string> prompts = {"Hello world", "a", "The model reads a sentence about Paris and",
                                            "one two", "x y z", "rembert"};
  std::vector<int64_t> lengths = {8, 3, 12, 5, 10, 7};  // different max_new_tokens: sequences leave at other steps
  std::vector<rembert::GenerationResult> want;
  for (size_t i = 0; i < prompts.size(); ++i) {
    rembert::GenerationOptions o;
    o.max_new_tokens = lengths[i];
    want.push_back(rembert::text_generation(pm, prompts[i], o));
  }
  ServerProcess server({"--model", fixture_path("models/clm")});
  ASSERT_GT(server.port(), 0);
  constexpr int kClients = 12;
  std::atomic<int> requests{0}, errors{0};
  std::mutex failures_mutex;
  std::string failure;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int round = 0; round < 6; ++round) {
        const size_t i = static_cast<size_t>(c + round) % prompts.size();
        const bool stream = (c + round) % 3 == 0;
        const json body = {{"inputs", prompts[i]}, {"stream", stream}, {"parameters", {{"max_new_tokens", lengths[i]}}}};
        const HttpResponse r = post(server, "/generate", body.dump());
        ++requests;
        bool good = r.status == 200;
        if (good && stream) {
          // The last event carries the whole generated_text.
          const size_t at = r.body.rfind("data:");
          good = at != std::string::npos &&
                 json::parse(r.body.substr(at + 5))["generated_text"] == want[i].generated_text;
        } else if (good) {
          good = r.body == rembert::to_json(want[i]);
        }
        if (!good) {
          ++errors;
          std::lock_guard<std::mutex> lock(failures_mutex);
          failure = std::to_string(r.status) + " " + r.body.substr(0, 300) + " expected " + rembert::to_json(want[i]);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0) << failure;
  const std::string metrics = http(server.port(), "GET", "/metrics", "").body;
  auto metric = [&](const std::string& name) { return metric_value(metrics, name); };
  const double batches = metric("rembert_batch_size_count"), singles = metric("rembert_batch_size_bucket{le=\"1\"}");
  EXPECT_LT(singles, batches) << "no decode step ran two sequences together";
  std::printf("[ info     ] /generate: %d requests from %d clients, %.0f batched forwards, %.0f of one sequence\n",
              requests.load(), kClients, batches, singles);
  std::fflush(stdout);
  EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

// ---------------------------------------------------------------- graceful shutdown

TEST(Server, SigtermFinishesTheRequestInFlightAndExitsZero) {
  ServerProcess server({"--model", fixture_path("models/base"), "--debug-batch-delay-ms", "1500"});
  ASSERT_GT(server.port(), 0);
  const int port = server.port();
  HttpResponse in_flight;
  std::thread client([&] { in_flight = http(port, "POST", "/embed", json{{"inputs", "Hello world"}}.dump()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the request now waits in the worker
  const auto t0 = Clock::now();
  const int code = server.stop(SIGTERM);
  client.join();
  EXPECT_EQ(code, 0) << server.stderr_text();
  EXPECT_EQ(in_flight.status, 200) << in_flight.body;
  EXPECT_EQ(json::parse(in_flight.body)[0].size(), 64u);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.5);  // it waited for the request
  EXPECT_EQ(http(port, "GET", "/health", "").status, 0);  // and accepts nothing afterwards
}

// The port opens before the model loads: /health (and every route) answers 503 meanwhile, so that a balancer sees a
// replica that is starting; once loaded, the same port serves.
TEST(Server, HealthAnswers503WhileTheModelLoads) {
  ServerProcess server({"--model", fixture_path("models/base"), "--debug-load-delay-ms", "2000"}, {}, true);
  ASSERT_GT(server.port(), 0);
  const CurlResult health = curl_get(server, "/health");
  expect_error(health, 503, "Unhealthy", "the model is still loading");
  expect_error(curl_post(server, "/embed", R"({"inputs": "Hello world"})"), 503, "Unhealthy", "still loading");
  expect_error(curl_get(server, "/info"), 503, "Unhealthy", "still loading");
  expect_error(curl_get(server, "/metrics"), 503, "Unhealthy", "still loading");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (Clock::now() < deadline && (status = http(server.port(), "GET", "/health", "").status) != 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(status, 200) << server.stderr_text();
  const HttpResponse r = post(server, "/embed", json{{"inputs", "Hello world"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)[0].size(), 64u);
  EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

// SIGTERM: /health answers 503 at once, every request is still answered (with Connection: close, so that pooled
// connections move elsewhere) until --drain-seconds have passed; then the port closes, the request in flight
// finishes and the server exits 0.
TEST(Server, SigtermDrainsHealth503WhileStillServing) {
  ServerProcess server({"--model", fixture_path("models/base"), "--drain-seconds", "2", "--debug-batch-delay-ms", "600"});
  ASSERT_GT(server.port(), 0);
  const int port = server.port();
  const std::string body = json{{"inputs", "Hello world"}}.dump();
  ASSERT_EQ(http(port, "GET", "/health", "").status, 200);
  const auto t0 = Clock::now();
  server.signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const HttpResponse health = http(port, "GET", "/health", "");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_CONTAINS(health.body, "draining");
  const HttpResponse during = http(port, "POST", "/embed", body);
  EXPECT_EQ(during.status, 200) << during.body;
  EXPECT_EQ(curl_get(server, "/info").status, 200);
  // A request sent just before the drain ends is still in flight when the port closes: it is answered, and asks its
  // client (which did not say Connection: close) to close the connection.
  const std::string keep_alive = "POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_LT(elapsed, 1.7) << "the machine is too slow for this test's timing";
  std::this_thread::sleep_for(std::chrono::duration<double>(1.7 - elapsed));
  HttpResponse in_flight;
  std::thread client([&] { in_flight = http(port, "POST", "/embed", "", "", &keep_alive); });
  const int code = server.wait_exit();
  client.join();
  EXPECT_EQ(code, 0) << server.stderr_text();
  EXPECT_EQ(in_flight.status, 200) << in_flight.body;
  EXPECT_CONTAINS(in_flight.headers, "Connection: close");
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);  // it served the whole drain
  EXPECT_EQ(http(port, "GET", "/health", "").status, 0);  // and accepts nothing afterwards
  EXPECT_CONTAINS(server.stderr_text(), "drained");
}

TEST(Server, SecondSignalExitsAtOnceWithOne) {
  ServerProcess server({"--model", fixture_path("models/base"), "--drain-seconds", "30"});
  ASSERT_GT(server.port(), 0);
  server.signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(http(server.port(), "GET", "/health", "").status, 503);
  const auto t0 = Clock::now();
  EXPECT_EQ(server.stop(SIGINT), 1) << server.stderr_text();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
}

TEST(Server, SigtermWhileLoadingExitsZero) {
  ServerProcess server({"--model", fixture_path("models/base"), "--debug-load-delay-ms", "5000"}, {}, true);
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(http(server.port(), "GET", "/health", "").status, 503);
  const auto t0 = Clock::now();
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.stderr_text();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 4.0);  // it did not wait for the load
}

// ---------------------------------------------------------------- configuration from the environment

TEST(Server, EveryFlagFromTheEnvironment) {
  ServerProcess server({}, {"REMBERT_MODEL_ID=" + fixture_path("models/base"), "REMBERT_PORT=0",
                            "REMBERT_MAX_BATCH_TOKENS=77", "REMBERT_MAX_CLIENT_BATCH_SIZE=3",
                            "REMBERT_MAX_CONCURRENT_REQUESTS=9", "REMBERT_MAX_INPUT_LENGTH=32",
                            "REMBERT_AUTO_TRUNCATE=true", "REMBERT_PAYLOAD_LIMIT=12345", "REMBERT_API_KEY=k",
                            "REMBERT_POOLING=mean", "REMBERT_DTYPE=bfloat16", "REMBERT_THREADS=1",
                            "REMBERT_MAX_BATCH_REQUESTS=5", "REMBERT_DRAIN_SECONDS=0.5"});
  ASSERT_GT(server.port(), 0);
  const HttpResponse r = http(server.port(), "GET", "/info", "", "Authorization: Bearer k\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  const json info = json::parse(r.body);
  EXPECT_EQ(info["max_batch_tokens"], 77);
  EXPECT_EQ(info["max_client_batch_size"], 3);
  EXPECT_EQ(info["max_concurrent_requests"], 9);
  EXPECT_EQ(info["max_input_length"], 32);
  EXPECT_EQ(info["auto_truncate"], true);
  EXPECT_EQ(info["payload_limit"], 12345);
  EXPECT_EQ(info["max_batch_requests"], 5);
  EXPECT_EQ(info["model_type"]["embedding"]["pooling"], "mean");
  EXPECT_EQ(info["model_dtype"], "bfloat16");
  EXPECT_EQ(http(server.port(), "GET", "/info", "").status, 401);
  std::string long_text;
  for (int k = 0; k < 80; ++k) long_text += "word ";
  // Auto-truncation applies when the request does not say.
  EXPECT_EQ(post(server, "/embed", json{{"inputs", long_text}}.dump(), "Authorization: Bearer k\r\n").status, 200);
  const auto t0 = Clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.5);  // REMBERT_DRAIN_SECONDS
}

// ---------------------------------------------------------------- the OpenAI client library

TEST(Server, OpenAINodeClientCallsEmbeddings) {
  if (std::system("command -v node > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed (apt-get install nodejs npm)";
  const char* env_modules = std::getenv("REMBERT_NODE_MODULES");
  const std::string modules = env_modules ? env_modules : std::string(REMBERT_SOURCE_DIR) + "/.cache/npm/node_modules";
  if (std::ifstream(modules + "/openai/package.json").fail()) {
    GTEST_SKIP() << "the npm package `openai` is not installed in " << modules
                 << " (npm install --prefix .cache/npm openai@5, or set REMBERT_NODE_MODULES)";
  }
  ServerProcess server({"--model", fixture_path("models/base"), "--api-key", "test-key"});
  ASSERT_GT(server.port(), 0);
  const std::string out = unique_path("openai_out"), err = unique_path("openai_err");
  const std::string cmd = "NODE_PATH=" + modules + " node " + REMBERT_SOURCE_DIR +
                          "/tests/server/openai_embeddings.js " + server.url("/v1") + " test-key > " + out + " 2> " + err;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(err);
  const json got = json::parse(read_file(out));
  const HttpResponse ref = post(server, "/embed", json{{"inputs", {"Hello world", "The capital of France is Paris."}}}.dump(),
                                "Authorization: Bearer test-key\r\n");
  ASSERT_EQ(ref.status, 200);
  const json expected = json::parse(ref.body);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(close_to(floats(got["base64"][k]), floats(expected[k]), 0));
    EXPECT_TRUE(close_to(floats(got["float"][k]), floats(expected[k]), 0));
  }
  EXPECT_TRUE(close_to(floats(got["single"][0]), floats(expected[0]), 1e-6));  // alone, not in a batch of two
  EXPECT_EQ(got["indices"], json({0, 1}));
  EXPECT_GT(got["usage"]["prompt_tokens"].get<int>(), 4);
  EXPECT_EQ(got["usage"]["prompt_tokens"], got["usage"]["total_tokens"]);
  EXPECT_EQ(got["error"]["status"], 422);
  EXPECT_CONTAINS(got["error"]["message"].get<std::string>(), "cannot be empty");
  EXPECT_EQ(got["auth"]["status"], 401);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
