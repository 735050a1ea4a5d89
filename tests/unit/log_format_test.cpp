#include "util/log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

using ds::util::escape_control;

TEST(LogFormat, ControlCharactersAreEscaped) {
  EXPECT_EQ(escape_control("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape_control(std::string("x\x01y\x7f", 4)), "x\\x01y\\x7f");
  EXPECT_EQ(escape_control("caf\xC3\xA9 ok"), "caf\xC3\xA9 ok");
}

// Regression (issue 8 item 12): a percent-encoded newline in a path wrote a forged line.
TEST(LogFormat, AValueCannotStartANewLogLine) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("t", sink);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  ds::util::set_log_format();
  spdlog::info("event=http path={}", "/x\nevent=login user_id=1");
  spdlog::set_default_logger(previous);
  spdlog::drop("t");
  std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  EXPECT_NE(text.find("path=/x\\nevent=login"), std::string::npos) << text;
}
