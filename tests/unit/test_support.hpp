// Helpers the unit tests share: a stream to open at the hub, a job id as the hub takes it, a
// temporary directory removed with everything in it, and a free loopback port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <system_error>
#include <utility>

#include "live/hub.hpp"
#include "live/protocol.hpp"

namespace ds::test {

// A stream for Hub::open_stream: session id and user id both `id`, no title, style "toon" at
// strength 0.5.
inline live::StreamOpen stream(long long id, std::string name) {
  return {id, id, std::move(name), "", {"toon", 0.5, 1}};
}

// The hub takes job ids as the protocol parses them; 0 (never a job) when unreadable.
inline std::uint64_t job_id(const nlohmann::json& text) {
  return text.is_string() ? live::wire::parse_job_id(text.get<std::string>()).value_or(0) : 0;
}

// A loopback TCP port nothing listens on now (the kernel's pick), for a listener the code under
// test opens itself. A port made up from the pid collided under `ctest -j` with other tests'
// ephemeral ports ("Address already in use").
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A fresh directory under the system's temporary directory (its name starts with prefix), removed
// with its contents when this goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ds-unit-") {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            (prefix + std::to_string(rd()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // Writes data (bytes as they are) to the file `name` in this directory.
  void write(const std::string& name, const std::string& data) const {
    std::ofstream(path_ / name, std::ios::binary) << data;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace ds::test
