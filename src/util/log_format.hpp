// Log hygiene: every log line is one line, whatever a client put in a logged value.
#pragma once

#include <string>
#include <string_view>

namespace ds::util {

// Control characters (and DEL) as \n, \r, \t or \xNN; everything else, UTF-8 included, as is.
std::string escape_control(std::string_view s);

// Installs the process-wide log format: a timestamp, level=…, then the message with control
// characters escaped, so a value such as a percent-encoded newline cannot forge a log line.
void set_log_format();

}  // namespace ds::util
