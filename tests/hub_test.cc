// The model hub against a mock hub: a cpp-httplib server on 127.0.0.1 (a free port) inside the test process that
// serves the fixture model folders with the hub's URL layout and headers (X-Repo-Commit, ETag / X-Linked-Etag,
// X-Linked-Size, 307 to a "CDN" path for LFS files, 302 for a renamed repo, Range requests, 401/404 with
// X-Error-Code), counting every request so that the tests can check what was asked for.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "hub/sha256.h"
#include "rembert/hub.h"
#include "rembert/model.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace rembert {
namespace {

using testing::error_message;
using testing::fixture_path;
using testing::read_file;

const char* const kGoodToken = "hf_test_good_token";
const char* const kCommitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const char* const kCommitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";

bool is_lfs(const std::string& name) {
  auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".safetensors") || ends(".bin") || ends(".model") || ends(".h5");
}

struct MockFile {
  std::string content;
  std::string served;  // what the CDN actually sends (a corrupted copy), "" = content
  bool lfs = false;
  std::string etag;    // sha256 for LFS files, a git-sha1-like id for the others
};

struct MockRepo {
  std::map<std::string, std::string> refs;                           // branch/tag -> commit
  std::map<std::string, std::map<std::string, MockFile>> commits;    // commit -> filename -> file
  bool private_repo = false;
  std::string renamed_to;  // answers 302 with a relative Location to this repo
};

std::map<std::string, MockFile> files_of(const std::string& fixture_model) {
  static std::mutex mutex;
  static std::map<std::string, std::map<std::string, MockFile>> read_once;  // hashing is the slow part
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = read_once.find(fixture_model); it != read_once.end()) return it->second;
  std::map<std::string, MockFile>& files = read_once[fixture_model];
  for (const auto& entry : fs::directory_iterator(fixture_path("models/" + fixture_model))) {
    MockFile file;
    file.content = read_file(entry.path().string());
    file.lfs = is_lfs(entry.path().filename().string());
    file.etag = file.lfs ? hub::sha256_hex(file.content)
                         : hub::sha256_hex("blob " + std::to_string(file.content.size()) + '\0' + file.content)
                               .substr(0, 40);
    files[entry.path().filename().string()] = file;
  }
  return files;
}

MockRepo single_commit_repo(const std::string& fixture_model) {
  MockRepo repo;
  repo.refs["main"] = kCommitA;
  repo.commits[kCommitA] = files_of(fixture_model);
  return repo;
}

class MockHub {
 public:
  struct Request {
    std::string method, path, range, authorization;
  };

  MockHub() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/revision/([^/]+))",
                [this](const httplib::Request& req, httplib::Response& res) { api(req, res); });
    server_.Get(R"(/cdn/([^/]+)/([^/]+)/([0-9a-f]{64}))",
                [this](const httplib::Request& req, httplib::Response& res) { cdn(req, res); });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { resolve(req, res); });
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("mock hub: cannot bind to 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~MockHub() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void add_repo(const std::string& id, MockRepo repo) {
    std::lock_guard<std::mutex> lock(mutex_);
    repos_[id] = std::move(repo);
  }
  // The next `times` CDN transfers of the blob `sha` send half of what was asked for, then drop the connection.
  void drop_transfers(const std::string& sha, int times) {
    std::lock_guard<std::mutex> lock(mutex_);
    drops_[sha] = times;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  void clear_requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.clear();
  }
  size_t count(const std::string& method, const std::string& path_part = "") const {
    size_t n = 0;
    for (const Request& r : requests()) n += r.method == method && r.path.find(path_part) != std::string::npos;
    return n;
  }
  // Requests for a path that ends with `suffix`.
  size_t count_ending(const std::string& method, const std::string& suffix) const {
    size_t n = 0;
    for (const Request& r : requests()) {
      n += r.method == method && r.path.size() >= suffix.size() &&
           r.path.compare(r.path.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    return n;
  }

 private:
  void log(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back({req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
  }

  // Finds the repo and commit, or answers the error the hub would give. Returns nullptr when it answered.
  const std::map<std::string, MockFile>* find_commit(const httplib::Request& req, httplib::Response& res,
                                                     const std::string& id, const std::string& revision,
                                                     std::string& commit) {
    auto repo = repos_.find(id);
    if (repo == repos_.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_header("X-Error-Message", "Repository not found");
      return nullptr;
    }
    if (repo->second.private_repo && req.get_header_value("Authorization") != std::string("Bearer ") + kGoodToken) {
      res.status = 401;
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_header("X-Error-Message", "Invalid username or password.");
      return nullptr;
    }
    auto ref = repo->second.refs.find(revision);
    commit = ref != repo->second.refs.end() ? ref->second : revision;
    auto files = repo->second.commits.find(commit);
    if (files == repo->second.commits.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      res.set_header("X-Error-Message", "Invalid rev id: " + revision);
      return nullptr;
    }
    return &files->second;
  }

  void resolve(const httplib::Request& req, httplib::Response& res) {
    log(req);
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
    const std::string revision = req.matches[3].str(), filename = req.matches[4].str();
    auto repo = repos_.find(id);
    if (repo != repos_.end() && !repo->second.renamed_to.empty()) {
      res.status = 302;
      res.set_header("Location", "/" + repo->second.renamed_to + "/resolve/" + revision + "/" + filename);
      return;
    }
    std::string commit;
    const auto* files = find_commit(req, res, id, revision, commit);
    if (!files) return;
    res.set_header("X-Repo-Commit", commit);
    auto file = files->find(filename);
    if (file == files->end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "EntryNotFound");
      res.set_header("X-Error-Message", "Entry not found");
      return;
    }
    if (file->second.lfs) {
      res.status = 307;
      res.set_header("X-Linked-Etag", "\"" + file->second.etag + "\"");
      res.set_header("X-Linked-Size", std::to_string(file->second.content.size()));
      res.set_header("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
      res.set_header("Location", endpoint() + "/cdn/" + id + "/" + file->second.etag + "?X-Amz-Signature=mock");
      res.set_content("Temporary Redirect", "text/plain");
      return;
    }
    res.set_header("ETag", "\"" + file->second.etag + "\"");
    res.set_content(file->second.content, "application/octet-stream");  // httplib answers Range requests itself
  }

  void cdn(const httplib::Request& req, httplib::Response& res) {
    log(req);
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string id = req.matches[1].str() + "/" + req.matches[2].str(), sha = req.matches[3].str();
    const MockFile* found = nullptr;
    if (auto repo = repos_.find(id); repo != repos_.end()) {
      for (const auto& [commit, files] : repo->second.commits) {
        for (const auto& [name, file] : files) {
          if (file.lfs && file.etag == sha) found = &file;
        }
      }
    }
    if (!found) {
      res.status = 404;
      return;
    }
    auto body = std::make_shared<std::string>(found->served.empty() ? found->content : found->served);
    if (drops_[sha] > 0) {
      --drops_[sha];
      res.set_content_provider(body->size(), "application/octet-stream",
                               [body](size_t offset, size_t length, httplib::DataSink& sink) {
                                 sink.write(body->data() + offset, length / 2);
                                 return false;  // drop the connection mid-body
                               });
      return;
    }
    res.set_content(*body, "application/octet-stream");
  }

  void api(const httplib::Request& req, httplib::Response& res) {
    log(req);
    std::lock_guard<std::mutex> lock(mutex_);
    std::string commit;
    const auto* files = find_commit(req, res, req.matches[1].str() + "/" + req.matches[2].str(),
                                    req.matches[3].str(), commit);
    if (!files) return;
    std::string json = "{\"sha\": \"" + commit + "\", \"siblings\": [";
    bool first = true;
    for (const auto& [name, file] : *files) {
      json += std::string(first ? "" : ", ") + "{\"rfilename\": \"" + name + "\"}";
      first = false;
    }
    res.set_content(json + "]}", "application/json");
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, MockRepo> repos_;
  std::map<std::string, int> drops_;
  std::vector<Request> requests_;
};

// Sets (or unsets, with nullptr) an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A port on 127.0.0.1 that nothing listens on.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class HubFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/rembert-hub-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    cache_ = dir_ + "/hub";
    hub_.add_repo("test-org/base", base_repo());
    hub_.add_repo("test-org/sharded", single_commit_repo("mlm_sharded"));
    MockRepo bin_only = single_commit_repo("base");
    bin_only.commits[kCommitA].erase("model.safetensors");
    hub_.add_repo("test-org/bin-only", bin_only);
    MockRepo no_config = single_commit_repo("base");
    no_config.commits[kCommitA].erase("config.json");
    hub_.add_repo("test-org/no-config", no_config);
    MockRepo private_repo = single_commit_repo("base");
    private_repo.private_repo = true;
    hub_.add_repo("test-org/private", private_repo);
    MockRepo corrupt = single_commit_repo("base");
    std::string& served = corrupt.commits[kCommitA]["model.safetensors"].served;
    served = corrupt.commits[kCommitA]["model.safetensors"].content;
    served[served.size() / 2] = static_cast<char>(served[served.size() / 2] ^ 0x5a);
    hub_.add_repo("test-org/corrupt", corrupt);
    hub_.add_repo("test-org/tf-only", single_commit_repo("../tf/mlm"));
    MockRepo tf_and_pt = single_commit_repo("mlm");
    tf_and_pt.commits[kCommitA]["tf_model.h5"] = files_of("../tf/mlm").at("tf_model.h5");
    hub_.add_repo("test-org/tf-and-pt", tf_and_pt);
    MockRepo renamed;
    renamed.renamed_to = "test-org/base";
    hub_.add_repo("test-org/old-name", renamed);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  static MockRepo base_repo() {
    MockRepo repo = single_commit_repo("base");
    repo.refs["v2"] = kCommitB;
    auto v2 = repo.commits[kCommitA];
    MockFile& config = v2["config.json"];
    config.content.insert(config.content.find('{') + 1, "\n  \"_test_revision\": \"v2\",");
    config.etag = hub::sha256_hex("v2 " + config.content).substr(0, 40);
    repo.commits[kCommitB] = v2;
    return repo;
  }

  // Options that depend on nothing in the environment.
  HubOptions options() const {
    HubOptions o;
    o.endpoint = hub_.endpoint();
    o.cache_dir = cache_;
    o.offline = false;
    o.token = std::string();
    o.progress = HubProgress::None;
    o.max_retries = 0;
    o.retry_delay_seconds = 0;
    o.timeout_seconds = 5;
    return o;
  }
  std::string repo_dir(const std::string& id) const { return cache_ + "/" + hub_repo_folder_name(id); }
  std::string fixture(const std::string& model, const std::string& file) const {
    return read_file(fixture_path("models/" + model + "/" + file));
  }
  static std::string sha_of_fixture(const std::string& model, const std::string& file) {
    return hub::sha256_file_hex(fixture_path("models/" + model + "/" + file));
  }
  // Paths of every file under `root` whose name ends with `suffix`.
  static std::vector<std::string> files_ending(const std::string& root, const std::string& suffix) {
    std::vector<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string path = it->path().string();
      if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found.push_back(path);
      }
    }
    return found;
  }

  MockHub hub_;
  std::string dir_, cache_;
};

class HubIds : public ::testing::Test {};
class HubSha256 : public ::testing::Test {};
class HubLocal : public HubFixture {};
class HubDownload : public HubFixture {};
class HubRevision : public HubFixture {};
class HubOffline : public HubFixture {};
class HubResume : public HubFixture {};
class HubErrors : public HubFixture {};
class HubPatterns : public HubFixture {};
class HubEnvironment : public HubFixture {};

TEST_F(HubIds, ValidAndInvalidRepoIds) {
  for (const char* id : {"google/rembert", "test-org/base", "bert-base-uncased", "a/b", "org_1/model.v2-x",
                         "Org/Name_9"}) {
    EXPECT_TRUE(is_hub_repo_id(id)) << id;
  }
  for (const char* id : {"", "a/b/c", "/abs/path", "./model", "-org/name", "org/name-", "org/.name", "org--x/name",
                         "org/na..me", "org/name.git", "org/", "/name", "org/na me", "org/näme", "~/models/x"}) {
    EXPECT_FALSE(is_hub_repo_id(id)) << id;
  }
  EXPECT_FALSE(is_hub_repo_id(std::string(97, 'a')));
  EXPECT_EQ(hub_repo_folder_name("google/rembert"), "models--google--rembert");
  EXPECT_EQ(hub_repo_folder_name("bert-base-uncased"), "models--bert-base-uncased");
}

TEST_F(HubSha256, KnownVectorsAndStreaming) {
  EXPECT_EQ(hub::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hub::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hub::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(hub::sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  hub::Sha256 pieces;  // odd-sized chunks across block boundaries
  for (size_t at = 0; at < million.size();) {
    const size_t n = std::min<size_t>(1 + at % 97, million.size() - at);
    pieces.update(million.data() + at, n);
    at += n;
  }
  EXPECT_EQ(pieces.hex_digest(), hub::sha256_hex(million));
}

TEST_F(HubSha256, FilesAcrossReadChunksAndErrors) {
  // A million 'a's (the FIPS 180-2 vector) and 3 MiB + 5 bytes of a pattern, past the 1 MiB chunks the file is read
  // in (the digest is sha256sum's and Python hashlib's).
  const std::string million_path = testing::scratch_dir() + "sha256_million_a";
  testing::write_file(million_path, std::string(1000000, 'a'));
  EXPECT_EQ(hub::sha256_file_hex(million_path), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string pattern(3 * 1048576 + 5, '\0');
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>((i * 7 + i / 251) % 256);
  const std::string pattern_path = testing::scratch_dir() + "sha256_pattern";
  testing::write_file(pattern_path, pattern);
  EXPECT_EQ(hub::sha256_file_hex(pattern_path), "97b223b8dffd3197ac94f503412970b2d77110b3c78d60b4647c8fa2cebe897b");
  EXPECT_EQ(hub::sha256_hex(pattern), "97b223b8dffd3197ac94f503412970b2d77110b3c78d60b4647c8fa2cebe897b");
  // reset() starts over; an unreadable file is an error naming it.
  hub::Sha256 hash;
  hash.update("xyz", 3);
  hash.reset();
  hash.update("abc", 3);
  EXPECT_EQ(hash.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::remove(million_path.c_str());
  std::remove(pattern_path.c_str());
  EXPECT_CONTAINS(testing::error_message([] { hub::sha256_file_hex("/nonexistent/blob"); }), "/nonexistent/blob");
}

TEST_F(HubLocal, LocalFolderReturnedUnchanged) {
  const std::string folder = fixture_path("models/base");
  EXPECT_EQ(resolve_model_for_task(folder, options()), folder);
  EXPECT_EQ(resolve_model(folder, options(), {"config.json", "does-not-matter.bin"}), folder);
  EXPECT_TRUE(hub_.requests().empty());
  EXPECT_FALSE(fs::exists(cache_));
}

TEST_F(HubLocal, InvalidRepoIdRejected) {
  for (const char* model : {"test-org/bad--name", "a/b/c", "./no/such/folder", "-org/name"}) {
    const std::string message = error_message([&] { resolve_model_for_task(model, options()); });
    EXPECT_CONTAINS(message, std::string("model '") + model + "'");
    EXPECT_CONTAINS(message, "not a valid hub repo id");
  }
  EXPECT_CONTAINS(error_message([&] { resolve_model_for_task(fixture_path("models/base/config.json"), options()); }),
                  "is a file");
  EXPECT_CONTAINS(error_message([&] { hub_download("x/y/z", "config.json", options()); }), "not a valid hub repo id");
  EXPECT_CONTAINS(error_message([&] { hub_download("test-org/base", "../../etc/passwd", options()); }),
                  "invalid file name");
  HubOptions bad_revision = options();
  bad_revision.revision = "../../x";
  EXPECT_CONTAINS(error_message([&] { resolve_model_for_task("test-org/base", bad_revision); }), "invalid revision");
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(HubDownload, FirstDownloadPopulatesTheHuggingFaceLayout) {
  const std::string snapshot = resolve_model_for_task("test-org/base", options());
  const std::string repo = repo_dir("test-org/base");
  EXPECT_EQ(snapshot, repo + "/snapshots/" + kCommitA);
  EXPECT_EQ(read_file(repo + "/refs/main"), kCommitA);  // exactly the hash, no newline

  const MockRepo mock = base_repo();
  const auto& files = mock.commits.at(kCommitA);
  for (const char* name : {"config.json", "tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                           "special_tokens_map.json", "model.safetensors"}) {
    const std::string pointer = snapshot + "/" + name;
    ASSERT_TRUE(fs::is_symlink(pointer)) << pointer;
    EXPECT_EQ(fs::read_symlink(pointer).string(), "../../blobs/" + files.at(name).etag) << name;
    EXPECT_TRUE(fs::is_regular_file(repo + "/blobs/" + files.at(name).etag)) << name;
    EXPECT_EQ(read_file(pointer), fixture("base", name)) << name;
  }
  // LFS blobs are named by the sha256 of their content.
  EXPECT_TRUE(fs::exists(repo + "/blobs/" + sha_of_fixture("base", "model.safetensors")));
  // Only what the task needs: safetensors exist, so no pytorch_model.bin.
  EXPECT_FALSE(fs::exists(snapshot + "/pytorch_model.bin"));
  EXPECT_EQ(hub_.count("HEAD", "pytorch_model.bin"), 0u);
  EXPECT_EQ(hub_.count("GET", files.at("pytorch_model.bin").etag), 0u);
  // One HEAD per file, one GET per file (LFS files straight from the CDN location); nothing else.
  EXPECT_EQ(hub_.count("HEAD"), 6u);
  EXPECT_EQ(hub_.count("GET"), 6u);
  EXPECT_EQ(hub_.count("GET", "/cdn/"), 2u);
  // The first HEAD asks for the branch; the rest for the commit it resolved to.
  const auto requests = hub_.requests();
  EXPECT_CONTAINS(requests.front().path, "/test-org/base/resolve/main/config.json");
  for (size_t i = 1; i < requests.size(); ++i) {
    if (requests[i].path.find("/resolve/") != std::string::npos) {
      EXPECT_CONTAINS(requests[i].path, std::string("/resolve/") + kCommitA + "/");
    }
  }
  EXPECT_TRUE(files_ending(repo, ".incomplete").empty());
  EXPECT_TRUE(fs::is_directory(cache_ + "/.locks/models--test-org--base"));
}

TEST_F(HubDownload, SecondResolveIsACacheHit) {
  const std::string first = resolve_model_for_task("test-org/base", options());
  hub_.clear_requests();
  EXPECT_EQ(resolve_model_for_task("test-org/base", options()), first);
  // One HEAD tells the commit is unchanged; everything else comes from the snapshot.
  ASSERT_EQ(hub_.requests().size(), 1u);
  EXPECT_EQ(hub_.requests()[0].method, "HEAD");
  EXPECT_EQ(hub_.count("GET"), 0u);

  // A commit hash as the revision needs no request at all.
  hub_.clear_requests();
  HubOptions pinned = options();
  pinned.revision = kCommitA;
  EXPECT_EQ(resolve_model_for_task("test-org/base", pinned), first);
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(HubDownload, ShardedSafetensors) {
  const std::string snapshot = resolve_model_for_task("test-org/sharded", options());
  for (const char* name : {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors"}) {
    EXPECT_EQ(read_file(snapshot + "/" + name), fixture("mlm_sharded", name)) << name;
  }
  EXPECT_EQ(hub_.count_ending("HEAD", "/model.safetensors"), 1u);  // the 404 probe
  EXPECT_EQ(hub_.count("HEAD", "pytorch_model"), 0u);
  EXPECT_TRUE(fs::exists(repo_dir("test-org/sharded") + "/.no_exist/" + kCommitA + "/model.safetensors"));
}

TEST_F(HubDownload, FallsBackToPytorchBinAndRemembersWhatIsMissing) {
  const std::string snapshot = resolve_model_for_task("test-org/bin-only", options());
  EXPECT_EQ(read_file(snapshot + "/pytorch_model.bin"), fixture("base", "pytorch_model.bin"));
  EXPECT_EQ(hub_.count_ending("HEAD", "/model.safetensors"), 1u);
  EXPECT_EQ(hub_.count_ending("HEAD", "/model.safetensors.index.json"), 1u);
  EXPECT_EQ(hub_.count_ending("HEAD", "/pytorch_model.bin"), 1u);
  EXPECT_EQ(hub_.count_ending("HEAD", "/pytorch_model.bin.index.json"), 0u);
  const std::string no_exist = repo_dir("test-org/bin-only") + "/.no_exist/" + kCommitA;
  EXPECT_TRUE(fs::exists(no_exist + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(no_exist + "/model.safetensors.index.json"));
  // Next time the missing files cost nothing.
  hub_.clear_requests();
  EXPECT_EQ(resolve_model_for_task("test-org/bin-only", options()), snapshot);
  EXPECT_EQ(hub_.requests().size(), 1u);
}

// A TensorFlow fine-tune has only tf_model.h5: it is fetched after every PyTorch file was probed, and loads.
TEST_F(HubDownload, FetchesTfModelH5WhenTheRepoHasNoPytorchWeights) {
  const std::string snapshot = resolve_model_for_task("test-org/tf-only", options());
  EXPECT_EQ(read_file(snapshot + "/tf_model.h5"), read_file(fixture_path("tf/mlm/tf_model.h5")));
  for (const char* name : {"/model.safetensors", "/model.safetensors.index.json", "/pytorch_model.bin",
                           "/pytorch_model.bin.index.json", "/tf_model.h5"}) {
    EXPECT_EQ(hub_.count_ending("HEAD", name), 1u) << name;
  }
  auto model = Model::load(snapshot);
  EXPECT_EQ(model->head(), HeadType::MaskedLM);
  EXPECT_TRUE(model->newly_initialized().empty());
}

TEST_F(HubDownload, PytorchWeightsWinOverTfModelH5) {
  const std::string snapshot = resolve_model_for_task("test-org/tf-and-pt", options());
  EXPECT_TRUE(fs::exists(snapshot + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(snapshot + "/tf_model.h5"));
  EXPECT_EQ(hub_.count("HEAD", "tf_model.h5"), 0u);
  EXPECT_EQ(hub_.count("GET", "tf_model.h5"), 0u);
}

TEST_F(HubDownload, RenamedRepoFollowsTheRelativeRedirect) {
  const std::string snapshot = resolve_model_for_task("test-org/old-name", options());
  EXPECT_EQ(snapshot, repo_dir("test-org/old-name") + "/snapshots/" + kCommitA);
  EXPECT_EQ(read_file(snapshot + "/config.json"), fixture("base", "config.json"));
  EXPECT_EQ(read_file(snapshot + "/model.safetensors"), fixture("base", "model.safetensors"));
}

TEST_F(HubDownload, ConcurrentResolvesShareTheCache) {
  std::vector<std::thread> threads;
  std::vector<std::string> results(3), errors(3);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        results[i] = resolve_model_for_task("test-org/base", options());
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(errors[i], "");
    EXPECT_EQ(results[i], repo_dir("test-org/base") + "/snapshots/" + kCommitA);
  }
  EXPECT_EQ(read_file(results[0] + "/model.safetensors"), fixture("base", "model.safetensors"));
  EXPECT_TRUE(files_ending(cache_, ".incomplete").empty());
}

TEST_F(HubDownload, LinesProgressNamesEachDownloadedFile) {
  HubOptions o = options();
  o.progress = HubProgress::Lines;
  ::testing::internal::CaptureStderr();
  resolve_model_for_task("test-org/base", o, ModelParts{true, false, false});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(err, "downloaded test-org/base/config.json");

  o.progress = HubProgress::Bar;  // what a terminal shows: a bar redrawn in place, one line per file at the end
  o.cache_dir = dir_ + "/bar-cache";
  ::testing::internal::CaptureStderr();
  resolve_model_for_task("test-org/base", o, ModelParts{false, false, true});
  const std::string bar = ::testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(bar, "\rtest-org/base/model.safetensors [##");
  EXPECT_CONTAINS(bar, "100%");
  EXPECT_EQ(bar.back(), '\n');
}

TEST_F(HubRevision, BranchTagAndCommitHash) {
  HubOptions v2 = options();
  v2.revision = "v2";
  const std::string snapshot_b = resolve_model_for_task("test-org/base", v2);
  const std::string repo = repo_dir("test-org/base");
  EXPECT_EQ(snapshot_b, repo + "/snapshots/" + kCommitB);
  EXPECT_EQ(read_file(repo + "/refs/v2"), kCommitB);
  EXPECT_CONTAINS(read_file(snapshot_b + "/config.json"), "\"_test_revision\": \"v2\"");

  // main shares every blob but config.json with v2: only config.json is downloaded again.
  hub_.clear_requests();
  const std::string snapshot_a = resolve_model_for_task("test-org/base", options());
  EXPECT_EQ(snapshot_a, repo + "/snapshots/" + kCommitA);
  EXPECT_EQ(read_file(snapshot_a + "/config.json"), fixture("base", "config.json"));
  EXPECT_EQ(hub_.count("GET"), 1u);
  EXPECT_EQ(hub_.count("GET", "config.json"), 1u);

  // A commit hash names the snapshot directly, in a fresh cache too.
  HubOptions pinned = options();
  pinned.revision = kCommitB;
  pinned.cache_dir = dir_ + "/other-cache";
  hub_.clear_requests();
  const std::string pinned_snapshot = resolve_model_for_task("test-org/base", pinned, ModelParts{true, false, false});
  EXPECT_EQ(pinned_snapshot, dir_ + "/other-cache/models--test-org--base/snapshots/" + kCommitB);
  EXPECT_CONTAINS(read_file(pinned_snapshot + "/config.json"), "v2");
  EXPECT_CONTAINS(hub_.requests().at(0).path, std::string("/resolve/") + kCommitB + "/config.json");
  EXPECT_FALSE(fs::exists(dir_ + "/other-cache/models--test-org--base/refs"));  // no ref for a commit hash
}

TEST_F(HubRevision, UnknownRevisionIsAClearError) {
  HubOptions o = options();
  o.revision = "no-such-branch";
  const std::string message = error_message([&] { resolve_model_for_task("test-org/base", o); });
  EXPECT_CONTAINS(message, "model 'test-org/base' not found on the hub at " + hub_.endpoint() +
                               " (revision 'no-such-branch')");
}

TEST_F(HubOffline, WithACacheNoRequestIsMade) {
  const std::string snapshot = resolve_model_for_task("test-org/base", options());
  hub_.clear_requests();
  HubOptions offline = options();
  offline.offline = true;
  EXPECT_EQ(resolve_model_for_task("test-org/base", offline), snapshot);
  {
    ScopedEnv env("HF_HUB_OFFLINE", "1");
    HubOptions from_env = options();
    from_env.offline.reset();
    EXPECT_EQ(resolve_model_for_task("test-org/base", from_env), snapshot);
  }
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(HubOffline, ReusesACacheThatPythonFilled) {
  // The layout huggingface_hub writes, made by hand: blobs named by ETag, relative symlinks, refs/main.
  const std::string repo = repo_dir("test-org/base");
  const MockRepo mock = base_repo();
  const auto& files = mock.commits.at(kCommitA);
  fs::create_directories(repo + "/blobs");
  fs::create_directories(repo + "/refs");
  fs::create_directories(repo + "/snapshots/" + kCommitA);
  std::ofstream(repo + "/refs/main") << kCommitA;
  for (const char* name : {"config.json", "tokenizer.json", "sentencepiece.model", "tokenizer_config.json",
                           "special_tokens_map.json", "model.safetensors"}) {
    std::ofstream(repo + "/blobs/" + files.at(name).etag, std::ios::binary) << files.at(name).content;
    fs::create_symlink("../../blobs/" + files.at(name).etag, repo + "/snapshots/" + kCommitA + "/" + name);
  }
  HubOptions offline = options();
  offline.offline = true;
  EXPECT_EQ(resolve_model_for_task("test-org/base", offline), repo + "/snapshots/" + kCommitA);
  EXPECT_TRUE(hub_.requests().empty());
  EXPECT_EQ(resolve_model_for_task("test-org/base", options()), repo + "/snapshots/" + kCommitA);
  EXPECT_EQ(hub_.requests().size(), 1u);  // the HEAD that tells main is still at that commit
  EXPECT_EQ(hub_.count("GET"), 0u);
}

TEST_F(HubOffline, WithoutACacheIsAClearError) {
  HubOptions offline = options();
  offline.offline = true;
  const std::string message = error_message([&] { resolve_model_for_task("test-org/base", offline); });
  EXPECT_CONTAINS(message, "model 'test-org/base' (revision 'main') is not in the cache at " + cache_);
  EXPECT_CONTAINS(message, "offline");
  EXPECT_TRUE(hub_.requests().empty());

  // Cached, but not the weights: the missing part is named.
  resolve_model_for_task("test-org/base", options(), ModelParts{true, true, false});
  const std::string no_weights = error_message([&] { resolve_model_for_task("test-org/base", offline); });
  EXPECT_CONTAINS(no_weights, "has no weights");
  EXPECT_CONTAINS(no_weights, "offline");
}

TEST_F(HubOffline, UnreachableHubFallsBackToTheCache) {
  const std::string snapshot = resolve_model_for_task("test-org/base", options());
  HubOptions down = options();
  down.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  EXPECT_EQ(resolve_model_for_task("test-org/base", down), snapshot);
}

TEST_F(HubResume, DroppedTransferIsResumedWithARangeRequest) {
  const std::string sha = sha_of_fixture("base", "model.safetensors");
  const size_t size = fixture("base", "model.safetensors").size();
  hub_.drop_transfers(sha, 1);
  HubOptions o = options();
  o.max_retries = 2;
  const std::string snapshot = resolve_model_for_task("test-org/base", o);
  std::vector<MockHub::Request> transfers;
  for (const auto& r : hub_.requests()) {
    if (r.method == "GET" && r.path.find(sha) != std::string::npos) transfers.push_back(r);
  }
  ASSERT_EQ(transfers.size(), 2u);
  EXPECT_EQ(transfers[0].range, "");
  ASSERT_EQ(transfers[1].range.rfind("bytes=", 0), 0u) << transfers[1].range;
  const size_t offset = std::stoul(transfers[1].range.substr(6));
  EXPECT_GT(offset, 0u);
  EXPECT_LT(offset, size);
  EXPECT_EQ(read_file(snapshot + "/model.safetensors"), fixture("base", "model.safetensors"));
  EXPECT_EQ(hub::sha256_file_hex(repo_dir("test-org/base") + "/blobs/" + sha), sha);
}

TEST_F(HubResume, InterruptedDownloadLeavesNothingThatLooksCompleteAndResumesNextTime) {
  const std::string sha = sha_of_fixture("base", "model.safetensors");
  const size_t size = fixture("base", "model.safetensors").size();
  const std::string blob = repo_dir("test-org/base") + "/blobs/" + sha;
  const std::string pointer = repo_dir("test-org/base") + "/snapshots/" + kCommitA + "/model.safetensors";
  hub_.drop_transfers(sha, 1);
  const std::string message = error_message([&] { resolve_model_for_task("test-org/base", options()); });
  EXPECT_CONTAINS(message, "model.safetensors");
  EXPECT_CONTAINS(message, hub_.endpoint() + "/cdn/test-org/base/" + sha);
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_FALSE(fs::exists(pointer));
  ASSERT_TRUE(fs::exists(blob + ".incomplete"));
  const auto partial = fs::file_size(blob + ".incomplete");
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, size);

  hub_.clear_requests();
  const std::string snapshot = resolve_model_for_task("test-org/base", options());
  EXPECT_EQ(hub_.count("GET", sha), 1u);
  bool resumed = false;
  for (const auto& r : hub_.requests()) {
    if (r.path.find(sha) != std::string::npos) resumed = r.range == "bytes=" + std::to_string(partial) + "-";
  }
  EXPECT_TRUE(resumed);
  EXPECT_EQ(read_file(pointer), fixture("base", "model.safetensors"));
  EXPECT_EQ(hub::sha256_file_hex(blob), sha);
  EXPECT_FALSE(fs::exists(blob + ".incomplete"));
}

TEST_F(HubResume, CorruptDownloadIsRejected) {
  const std::string sha = sha_of_fixture("base", "model.safetensors");
  const std::string message = error_message([&] { resolve_model_for_task("test-org/corrupt", options()); });
  EXPECT_CONTAINS(message, "checksum mismatch");
  EXPECT_CONTAINS(message, "expected sha256 " + sha);
  EXPECT_CONTAINS(message, "test-org/corrupt/model.safetensors");
  const std::string repo = repo_dir("test-org/corrupt");
  EXPECT_FALSE(fs::exists(repo + "/blobs/" + sha));
  EXPECT_FALSE(fs::exists(repo + "/blobs/" + sha + ".incomplete"));
  EXPECT_FALSE(fs::exists(repo + "/snapshots/" + kCommitA + "/model.safetensors"));
}

TEST_F(HubErrors, MissingRepoIs404WithAClearMessage) {
  const std::string message = error_message([&] { resolve_model_for_task("test-org/missing", options()); });
  EXPECT_CONTAINS(message, "model 'test-org/missing' not found on the hub at " + hub_.endpoint() +
                               " (revision 'main')");
  EXPECT_CONTAINS(message, "HF_TOKEN");
  EXPECT_FALSE(fs::exists(repo_dir("test-org/missing") + "/snapshots"));
}

TEST_F(HubErrors, MissingConfigIsAnError) {
  const std::string message = error_message([&] { resolve_model_for_task("test-org/no-config", options()); });
  EXPECT_CONTAINS(message, "model 'test-org/no-config' on the hub at " + hub_.endpoint() +
                               " (revision 'main') has no file 'config.json'");
  EXPECT_CONTAINS(error_message([&] { hub_download("test-org/base", "nope.txt", options()); }), "no file 'nope.txt'");
}

TEST_F(HubErrors, PrivateRepoNeedsTheToken) {
  const std::string no_token = error_message([&] { resolve_model_for_task("test-org/private", options()); });
  EXPECT_CONTAINS(no_token, "HTTP 401");
  EXPECT_CONTAINS(no_token, "private or gated");
  EXPECT_CONTAINS(no_token, "set HF_TOKEN");

  HubOptions wrong = options();
  wrong.token = "hf_wrong";
  EXPECT_CONTAINS(error_message([&] { resolve_model_for_task("test-org/private", wrong); }),
                  "invalid or lacks access");

  hub_.clear_requests();
  HubOptions right = options();
  right.token = kGoodToken;
  const std::string snapshot = resolve_model_for_task("test-org/private", right);
  EXPECT_EQ(read_file(snapshot + "/config.json"), fixture("base", "config.json"));
  for (const auto& r : hub_.requests()) EXPECT_EQ(r.authorization, std::string("Bearer ") + kGoodToken) << r.path;
}

TEST_F(HubErrors, UnreachableHubNamesTheUrlAndCurlsMessage) {
  HubOptions down = options();
  down.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  const std::string message = error_message([&] { resolve_model_for_task("test-org/base", down); });
  EXPECT_CONTAINS(message, "cannot reach the hub at " + down.endpoint);
  EXPECT_CONTAINS(message, down.endpoint + "/test-org/base/resolve/main/config.json");
  EXPECT_CONTAINS(message, "onnect");  // curl: "Failed to connect ..." / "Couldn't connect ..."
}

TEST_F(HubErrors, UnwritableCacheNamesThePath) {
  fs::create_directories(dir_ + "/ro");
  std::ofstream(dir_ + "/ro/hub") << "a file where the cache folder should be";
  HubOptions o = options();
  o.cache_dir = dir_ + "/ro/hub";
  EXPECT_CONTAINS(error_message([&] { resolve_model_for_task("test-org/base", o); }), dir_ + "/ro/hub");
}

TEST_F(HubPatterns, RequiredAndOptionalPatterns) {
  const std::string snapshot = resolve_model("test-org/base", options(), {"config.json"}, {"*.json", "*.onnx"});
  for (const char* name : {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    EXPECT_TRUE(fs::exists(snapshot + "/" + name)) << name;
  }
  EXPECT_FALSE(fs::exists(snapshot + "/model.safetensors"));
  EXPECT_EQ(hub_.count("GET", "/api/models/test-org/base/revision/"), 1u);
  EXPECT_CONTAINS(error_message([&] { resolve_model("test-org/base", options(), {"*.onnx"}); }),
                  "matches '*.onnx'");

  HubOptions offline = options();
  offline.offline = true;
  hub_.clear_requests();
  EXPECT_EQ(resolve_model("test-org/base", offline, {"*.json"}), snapshot);
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(HubEnvironment, CacheEndpointAndTokenFromTheEnvironment) {
  ScopedEnv unset_cache("HF_HUB_CACHE", nullptr), unset_legacy("HUGGINGFACE_HUB_CACHE", nullptr);
  ScopedEnv unset_token("HF_TOKEN", nullptr), unset_legacy_token("HUGGING_FACE_HUB_TOKEN", nullptr);
  ScopedEnv unset_token_path("HF_TOKEN_PATH", nullptr), unset_offline("HF_HUB_OFFLINE", nullptr);
  ScopedEnv unset_tf_offline("TRANSFORMERS_OFFLINE", nullptr);
  {
    ScopedEnv home("HOME", dir_.c_str()), hf_home("HF_HOME", nullptr), xdg("XDG_CACHE_HOME", nullptr);
    EXPECT_EQ(hub_cache_dir({}), dir_ + "/.cache/huggingface/hub");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", (dir_ + "/xdg").c_str()), hf_home("HF_HOME", nullptr);
    EXPECT_EQ(hub_cache_dir({}), dir_ + "/xdg/huggingface/hub");
  }
  ScopedEnv hf_home("HF_HOME", (dir_ + "/hf-home").c_str());
  EXPECT_EQ(hub_cache_dir({}), dir_ + "/hf-home/hub");
  {
    ScopedEnv cache("HF_HUB_CACHE", cache_.c_str());
    EXPECT_EQ(hub_cache_dir({}), cache_);
  }
  HubOptions explicit_dir;
  explicit_dir.cache_dir = dir_ + "/explicit";
  EXPECT_EQ(hub_cache_dir(explicit_dir), dir_ + "/explicit");

  // Endpoint from HF_ENDPOINT, token from HF_HOME/token (what `huggingface-cli login` writes), cache in HF_HOME/hub.
  fs::create_directories(dir_ + "/hf-home");
  std::ofstream(dir_ + "/hf-home/token") << kGoodToken << "\n";
  ScopedEnv endpoint("HF_ENDPOINT", (hub_.endpoint() + "/").c_str());
  HubOptions from_env;
  from_env.progress = HubProgress::None;
  const std::string snapshot = resolve_model_for_task("test-org/private", from_env, ModelParts{true, false, false});
  EXPECT_EQ(snapshot, dir_ + "/hf-home/hub/models--test-org--private/snapshots/" + kCommitA);
  ASSERT_FALSE(hub_.requests().empty());
  EXPECT_EQ(hub_.requests()[0].authorization, std::string("Bearer ") + kGoodToken);
  {
    ScopedEnv token("HF_TOKEN", "hf_wrong");  // HF_TOKEN wins over the file
    EXPECT_CONTAINS(error_message([&] { resolve_model_for_task("test-org/private", from_env); }), "HF_TOKEN");
  }
}

}  // namespace
}  // namespace rembert
