// What the C API's two files share: the handles' contents and the guard that turns every C++ exception into a
// rembert_status plus message (nothing may cross the C boundary).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "rembert.h"
#include "rembert/error.h"
#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "rembert/tokenizer.h"

struct rembert_model {
  std::shared_ptr<const rembert::Model> model;
};

struct rembert_tokenizer {
  std::shared_ptr<const rembert::Tokenizer> tokenizer;
};

struct rembert_pipeline {
  std::string task;  // canonical name ("fill-mask", ...)
  rembert::PipelineModel pm;
};

struct rembert_context {
  rembert_status status = REMBERT_OK;
  std::string error;
  // Forward inputs as given (kept with their shapes: a zero-sized tensor would read as "not given").
  std::map<std::string, rembert::Tensor> inputs;
  std::map<std::string, rembert::Shape> input_shapes;
  std::map<std::string, int> flags;
  std::vector<std::pair<std::string, rembert::Tensor>> outputs;  // float32, transformers' order
  std::vector<int64_t> ids, type_ids;  // the last encode
  std::string text;                    // the last decode
  std::string json;                    // the last pipeline result
};

namespace rembert::capi {

// Thrown inside the C API for a failure whose status it knows.
struct Failure {
  rembert_status status;
  std::string message;
};

[[noreturn]] inline void fail(rembert_status status, std::string message) { throw Failure{status, std::move(message)}; }

// Null pointers are INVALID_ARGUMENT naming the argument.
template <class T>
void require(const T* p, const char* what) {
  if (!p) fail(REMBERT_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

// Records the outcome of a call on this thread (and in ctx when not null) and returns its status.
rembert_status record(rembert_context* ctx, rembert_status status, const char* message);

// Runs `body`; a rembert::Error it throws gets `library_status` (what the library refusing means at this step),
// Failure its own status, std::bad_alloc OUT_OF_MEMORY, anything else INTERNAL.
template <class F>
rembert_status guarded(rembert_context* ctx, rembert_status library_status, F&& body) noexcept {
  try {
    body();
    return record(ctx, REMBERT_OK, "");
  } catch (const Failure& f) {
    return record(ctx, f.status, f.message.c_str());
  } catch (const rembert::Error& e) {
    return record(ctx, library_status, e.what());
  } catch (const std::bad_alloc&) {
    return record(ctx, REMBERT_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return record(ctx, REMBERT_INTERNAL, e.what());
  } catch (...) {
    return record(ctx, REMBERT_INTERNAL, "unknown exception");
  }
}

// The bits of an enum argument that came from C: any int may arrive, and loading one outside the enumerators as the
// enum type is undefined in C++ (UBSan's -fsanitize=enum), so it is read as the int it is.
template <class E>
int enum_value(const E& e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized here");
  int v = 0;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// A local folder for a folder or hub id, as the CLI resolves it (the Hugging Face cache, HF_HUB_OFFLINE, HF_TOKEN,
// HF_ENDPOINT; options->revision): FILE_NOT_FOUND for a path that is neither, HUB_ERROR when the hub could not
// give it. `weights`: the model's weights too (else config and tokenizer files only).
std::string resolve_folder(const char* name_or_path, const rembert_load_options* options, bool weights,
                           const char* what);
// The LoadOptions and tokenizer kind of C options (NULL: defaults); BAD_DTYPE / INVALID_ARGUMENT for bad names.
rembert::LoadOptions load_options_of(const rembert_load_options* options);
rembert::TokenizerKind tokenizer_kind_of(const rembert_load_options* options);

}  // namespace rembert::capi
