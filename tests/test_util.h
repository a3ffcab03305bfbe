// Helpers shared by the tests: fixture paths and tensor comparison against reference values.
#pragma once

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include "rembert/error.h"
#include "rembert/safetensors.h"
#include "rembert/tensor.h"

// EXPECT that `text` contains `part`, printing `text` when it does not.
#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

namespace rembert::testing {

// Caps oneDNN at AVX2 for this process, so that a test runs the path of CPUs without VNNI, bfloat16 or AMX on any
// CPU. Only possible before oneDNN's first use (ctest runs every test in a process of its own): false after it.
inline bool cap_onednn_at_avx2() {
  try {
    dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}
inline constexpr const char* kOnednnRanBeforeTheCap =
    "oneDNN ran before this test in this process, so it can't be capped at AVX2: run it alone";

inline std::string fixture_path(const std::string& relative) {
  return std::string(REMBERT_FIXTURES_DIR) + "/" + relative;
}

// One case of tests/fixtures/cases.json by name.
inline nlohmann::json case_named(const std::string& name) {
  std::ifstream in(fixture_path("cases.json"));
  const nlohmann::json all = nlohmann::json::parse(in);
  for (const auto& c : all["cases"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("no case " + name + " in cases.json");
}

// Same names, dtypes, shapes and bytes.
inline void expect_same_tensors(const TensorMap& actual, const TensorMap& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, t] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
    EXPECT_TRUE(std::string(static_cast<const char*>(it->second.raw_data()), it->second.nbytes()) ==
                std::string(static_cast<const char*>(t.raw_data()), t.nbytes()))
        << name << ": bytes differ";
  }
}

// A per-process scratch folder: ctest runs tests in parallel processes, so file names must not collide.
inline std::string scratch_dir() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "rembert_test_" + std::to_string(getpid()) + "/";
    mkdir(d.c_str(), 0755);
    return d;
  }();
  return dir;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One JSON value per line of `path`.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

struct RunResult {
  int exit_code = -1;
  std::string out;     // stdout
  std::string err;     // stderr
  std::string output;  // both, stdout first
};

// Runs the built `rembert` tool with `args` (a shell command line tail, e.g. "forward --model X"); `stdin_text`,
// when given, is fed to its standard input.
inline RunResult run_cli(const std::string& args, const std::string* stdin_text = nullptr) {
  const std::string out_path = scratch_dir() + "cli_stdout.txt", err_path = scratch_dir() + "cli_stderr.txt";
  std::string cmd = std::string(REMBERT_CLI_PATH) + " " + args + " > " + out_path + " 2> " + err_path;
  if (stdin_text) {
    const std::string in_path = scratch_dir() + "cli_stdin.txt";
    std::ofstream(in_path, std::ios::binary) << *stdin_text;
    cmd += " < " + in_path;
  } else {
    cmd += " < /dev/null";
  }
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  r.output = r.out + r.err;
  return r;
}

// Runs `f`, which must throw rembert::Error, and returns the message ("" and a test failure when it does not throw).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected rembert::Error";
  return "";
}

// The bytes of a tensor, for exact comparisons.
// `weights` with head `head` of layer `layer`'s self-attention pruned, as transformers' prune_heads leaves them: the
// head's query/key/value rows and its output-dense columns removed (head_dim D, hidden size H).
inline void prune_self_attention_head(TensorMap& weights, int layer, int64_t head, int64_t D, int64_t H) {
  const std::string prefix = "encoder.layer." + std::to_string(layer) + ".attention.";
  auto drop_rows = [&](const std::string& name) {
    const Tensor& t = weights.at(name);
    const int64_t cols = t.ndim() == 2 ? t.dim(1) : 1;
    std::vector<float> v = t.to_f32_vector(), kept;
    for (int64_t r = 0; r < t.dim(0); ++r) {
      if (r >= head * D && r < (head + 1) * D) continue;
      kept.insert(kept.end(), v.begin() + r * cols, v.begin() + (r + 1) * cols);
    }
    Shape s = t.shape();
    s[0] -= D;
    weights[name] = Tensor::from_f32(s, kept);
  };
  for (const char* p : {"query", "key", "value"}) {
    drop_rows(prefix + "self." + p + ".weight");
    drop_rows(prefix + "self." + p + ".bias");
  }
  const std::string out_name = prefix + "output.dense.weight";
  const Tensor& out = weights.at(out_name);
  const int64_t in_width = out.dim(1);
  std::vector<float> w = out.to_f32_vector(), kept;
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < in_width; ++c)
      if (c < head * D || c >= (head + 1) * D) kept.push_back(w[r * in_width + c]);
  weights[out_name] = Tensor::from_f32({H, in_width - D}, kept);
}

inline std::string raw_bytes(const Tensor& t) {
  return std::string(static_cast<const char*>(t.raw_data()), t.nbytes());
}

// Compares `actual` against `expected` element-wise with |a - e| <= atol + rtol * |e| (numpy.allclose).
// `row_keep`, when non-empty, has one entry per leading row ([B*S] for [B, S, ...] tensors): rows with 0 are skipped
// (padding positions, whose values the reference does not define meaningfully).
inline ::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected, double atol, double rtol,
                                                const std::vector<int64_t>& row_keep = {}) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape()) << " != expected "
                                         << shape_to_string(expected.shape());
  }
  std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  const size_t rows = row_keep.empty() ? 1 : row_keep.size();
  const size_t per_row = a.size() / std::max<size_t>(rows, 1);
  double worst = 0.0;
  size_t bad = 0, first_bad = 0, compared = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!row_keep.empty() && row_keep[i / per_row] == 0) continue;
    ++compared;
    const double diff = std::abs(static_cast<double>(a[i]) - e[i]);
    const bool ok = diff <= atol + rtol * std::abs(static_cast<double>(e[i])) ||
                    (std::isnan(a[i]) && std::isnan(e[i]));
    if (!ok) {
      if (bad++ == 0) first_bad = i;
    }
    if (!std::isnan(diff)) worst = std::max(worst, diff);
  }
  if (bad) {
    return ::testing::AssertionFailure() << bad << " of " << compared << " values differ; first at flat index "
                                         << first_bad << ": " << a[first_bad] << " vs expected " << e[first_bad]
                                         << "; max abs diff " << worst;
  }
  if (compared == 0) return ::testing::AssertionFailure() << "nothing compared";
  return ::testing::AssertionSuccess();
}

}  // namespace rembert::testing
