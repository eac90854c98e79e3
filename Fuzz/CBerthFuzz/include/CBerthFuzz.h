#ifndef CBERTHFUZZ_H
#define CBERTHFUZZ_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (LLVM 12 and later), linked in by `-sanitize=fuzzer`. Declared here so that Swift can call
/// it with the C calling convention; only referenced when the harnesses are built with `-D BERTH_FUZZING`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
