// The seal on every message between nodes (docs/architecture.md, "The sealed wire"): an AEAD
// (XChaCha20-Poly1305, libsodium) keyed from --cluster-secret that encrypts and authenticates
// each pub/sub payload and each frame a node leaves in Redis, with the sender's node id, the
// time it was sealed and a random nonce inside. Whoever can read Redis sees only ciphertext;
// whoever can write to it cannot make a message that opens, nor replay one that did.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "util/clock.hpp"

namespace ds::cluster {

enum class OpenFailure {
  kForged,    // not sealed with this key for this context (or not sealed at all, or cut short)
  kStale,     // sealed too long ago, or too far in the future
  kReplayed,  // this exact message opened before
};

struct Opened {
  std::string sender;  // the node id that sealed it
  std::int64_t sent_ms = 0;
  std::string payload;
};

struct SealCounters {
  std::uint64_t forged = 0;
  std::uint64_t stale = 0;
  std::uint64_t replayed = 0;
};

class Seal {
 public:
  struct Options {
    // A message older (or newer: clocks drift) than this does not open. Nodes' clocks must
    // agree to within it (NTP).
    std::int64_t max_age_ms = 10'000;
    // Nonces remembered for replay checks; past it the oldest go first (counted as dropped
    // from memory, not accepted: an evicted nonce is older than every remembered one).
    std::size_t max_remembered = 1u << 20;
  };
  static constexpr std::size_t kMinSecretBytes = 16;
  static constexpr std::size_t kOverhead = 1 + 24 + 16;  // version, nonce, tag

  // Why secret cannot key the seal (empty, too short); nullopt when it can. Never quotes it.
  static std::optional<std::string> weak_secret(std::string_view secret);

  Seal(std::string_view secret, std::string node_id, const Clock& clock);
  Seal(std::string_view secret, std::string node_id, const Clock& clock, Options options);
  ~Seal();
  Seal(const Seal&) = delete;
  Seal& operator=(const Seal&) = delete;

  const std::string& node_id() const { return node_id_; }

  // context names what the message is for (its channel, or the kind of key it is stored
  // under): a message sealed for one context never opens in another.
  std::string seal(std::string_view context, std::string_view payload) const;

  // The opened message, or nullopt (why says why; each failure is counted). Thread-safe.
  std::optional<Opened> open(std::string_view context, std::string_view sealed,
                             OpenFailure* why = nullptr);

  SealCounters counters() const;

 private:
  // nullopt: first time seen, now remembered.
  std::optional<OpenFailure> remember(const std::string& nonce, std::int64_t expires_ms,
                                      std::int64_t now_ms);
  void count(OpenFailure f, OpenFailure* why);

  unsigned char key_[32];
  const std::string node_id_;
  const Clock& clock_;
  const Options options_;

  std::mutex mutex_;
  std::unordered_set<std::string> seen_;               // nonces that opened, not yet stale
  std::multimap<std::int64_t, std::string> expiries_;  // when each of them goes stale
  std::int64_t forgotten_before_ms_ = 0;               // evicted early: stale for us from then on
  std::atomic<std::uint64_t> forged_{0}, stale_{0}, replayed_{0};
};

}  // namespace ds::cluster
