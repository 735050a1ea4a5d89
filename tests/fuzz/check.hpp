// The fuzz targets' invariant check: report what broke, then abort so libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ds::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace ds::fuzz

// detail: what to print besides the condition (the input, or the request and answer).
#define DS_FUZZ_CHECK(cond, detail)                             \
  do {                                                          \
    if (!(cond)) ::ds::fuzz::invariant_failed(#cond, (detail)); \
  } while (0)
