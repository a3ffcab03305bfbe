// The fuzz targets' inputs through the ordinary build: every committed seed (tests/fuzz/corpus/<target>) and every
// input a fuzzer once crashed on (tests/fuzz/regressions/<target>) must be parsed or cleanly rejected. The harness
// (tests/fuzz/harness.cc) catches the parsers' own errors; anything else fails here, a broken invariant aborts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness.h"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_of(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void run_all(const rembert::fuzz::NamedTarget& target, const std::vector<fs::path>& files) {
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const std::string bytes = read_bytes(file);
    EXPECT_NO_THROW(target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

const fs::path kFuzzDir = fs::path(REMBERT_SOURCE_DIR) / "tests" / "fuzz";

}  // namespace

TEST(FuzzInputs, SeedCorporaParseOrFailCleanly) {
  for (const auto& target : rembert::fuzz::all_targets()) {
    SCOPED_TRACE(target.name);
    const std::vector<fs::path> seeds = inputs_of(kFuzzDir / "corpus" / target.name);
    EXPECT_FALSE(seeds.empty()) << "no seeds for fuzz_" << target.name << " (run scripts/fuzz-seeds.py)";
    run_all(target, seeds);
  }
}

TEST(FuzzInputs, RegressionsParseOrFailCleanly) {
  size_t count = 0;
  for (const auto& target : rembert::fuzz::all_targets()) {
    SCOPED_TRACE(target.name);
    const std::vector<fs::path> found = inputs_of(kFuzzDir / "regressions" / target.name);
    count += found.size();
    run_all(target, found);
  }
  // Every folder under regressions/ names a target (a misspelt one would never run).
  for (const auto& entry : fs::directory_iterator(kFuzzDir / "regressions")) {
    bool known = false;
    for (const auto& target : rembert::fuzz::all_targets()) known = known || entry.path().filename() == target.name;
    EXPECT_TRUE(known) << entry.path() << " is not the folder of a fuzz target";
  }
  EXPECT_GT(count, 0u);
}
