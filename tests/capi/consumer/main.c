/* consumer TOKENIZER_DIR: prints the library's version and the token count of a text, using only the installed
 * header and library. */
#include <stdio.h>
#include <string.h>

#include <rembert.h>

int main(int argc, char** argv) {
  rembert_context* ctx = rembert_context_new();
  rembert_tokenizer* tok = NULL;
  const int64_t* ids = NULL;
  size_t n = 0;
  int failed = 0;
  if (argc != 2 || !ctx) return 2;
  if (strcmp(rembert_version(), REMBERT_VERSION_STRING) != 0) failed = 1;
  if (rembert_tokenizer_load(argv[1], NULL, &tok) != REMBERT_OK ||
      rembert_tokenizer_encode(ctx, tok, "Hello world!", NULL, 1, &ids, NULL, &n) != REMBERT_OK) {
    fprintf(stderr, "%s\n", rembert_last_error());
    failed = 1;
  }
  printf("rembert %s: %u tokens\n", rembert_version(), (unsigned)n);
  rembert_tokenizer_free(tok);
  rembert_context_free(ctx);
  return failed;
}
