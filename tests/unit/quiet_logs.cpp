// The unit tests log at warning and above unless DS_TEST_LOG=info (or debug) asks for more: at
// info, the servers they start print thousands of lines, and a failure's lines drown in them.
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace {

[[maybe_unused]] const bool kQuiet = [] {
  const char* level = std::getenv("DS_TEST_LOG");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
  return true;
}();

}  // namespace
