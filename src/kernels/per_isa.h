// REMBERT_PER_ISA: a loop function compiled three times, for AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and
// baseline x86-64, the copy for the CPU at hand chosen by the loader at run time (GCC function multiversioning), so
// that one portable binary vectorizes wherever it runs. Never -march=native.
// Plain functions in sanitizer builds (the sanitizers instrument the ifunc resolver, which the loader runs before
// the sanitizer runtime is initialized: ThreadSanitizer crashes there) and with other compilers.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define REMBERT_PER_ISA __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REMBERT_PER_ISA
#endif
