#include "cluster/seal.hpp"

#include <sodium.h>

#include <stdexcept>

namespace ds::cluster {

namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(Seal::kOverhead == 1 + kNonceBytes + kTagBytes);
// The BLAKE2b key that turns a cluster secret into this seal's key (and no other key).
constexpr std::string_view kKdfContext = "dreamstream/cluster-seal/v1";

// Associated data: the version and the context, authenticated but not sent.
std::string associated(std::string_view context) {
  std::string ad(1, static_cast<char>(kVersion));
  ad += context;
  return ad;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::optional<std::string> Seal::weak_secret(std::string_view secret) {
  if (secret.empty())
    return "many nodes (--redis) need --cluster-secret or DREAMSTREAM_CLUSTER_SECRET, the same "
           "on every node";
  if (secret.size() < kMinSecretBytes)
    return "the cluster secret must be at least " + std::to_string(kMinSecretBytes) +
           " characters (e.g. openssl rand -hex 32)";
  return std::nullopt;
}

Seal::Seal(std::string_view secret, std::string node_id, const Clock& clock)
    : Seal(secret, std::move(node_id), clock, Options{}) {}

Seal::Seal(std::string_view secret, std::string node_id, const Clock& clock, Options options)
    : node_id_(std::move(node_id)), clock_(clock), options_(options) {
  if (weak_secret(secret)) throw std::invalid_argument("cluster secret too weak");
  if (node_id_.size() > 255) throw std::invalid_argument("node id longer than 255 bytes");
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  crypto_generichash(key_, sizeof key_, bytes(secret), secret.size(), bytes(kKdfContext),
                     kKdfContext.size());
}

Seal::~Seal() { sodium_memzero(key_, sizeof key_); }

std::string Seal::seal(std::string_view context, std::string_view payload) const {
  // Inside: sent_ms (8 bytes, big-endian), the sender's length (1 byte), the sender, payload.
  std::string plain;
  plain.reserve(9 + node_id_.size() + payload.size());
  auto ms = static_cast<std::uint64_t>(clock_.now_ms());
  for (int shift = 56; shift >= 0; shift -= 8) plain += static_cast<char>((ms >> shift) & 0xff);
  plain += static_cast<char>(node_id_.size());
  plain += node_id_;
  plain += payload;

  std::string out(kOverhead + plain.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  o[0] = kVersion;
  randombytes_buf(o + 1, kNonceBytes);
  auto ad = associated(context);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + 1 + kNonceBytes, &written, bytes(plain),
                                             plain.size(), bytes(ad), ad.size(), nullptr, o + 1,
                                             key_);
  out.resize(1 + kNonceBytes + written);
  return out;
}

void Seal::count(OpenFailure f, OpenFailure* why) {
  if (why) *why = f;
  switch (f) {
    case OpenFailure::kForged:
      forged_++;
      break;
    case OpenFailure::kStale:
      stale_++;
      break;
    case OpenFailure::kReplayed:
      replayed_++;
      break;
  }
}

std::optional<Opened> Seal::open(std::string_view context, std::string_view sealed,
                                 OpenFailure* why) {
  if (sealed.size() < kOverhead + 9 || static_cast<unsigned char>(sealed[0]) != kVersion) {
    count(OpenFailure::kForged, why);
    return std::nullopt;
  }
  const auto* nonce = bytes(sealed) + 1;
  auto cipher = sealed.substr(1 + kNonceBytes);
  std::string plain(cipher.size() - kTagBytes, '\0');
  auto ad = associated(context);
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()),
                                                 &length, nullptr, bytes(cipher), cipher.size(),
                                                 bytes(ad), ad.size(), nonce, key_) != 0) {
    count(OpenFailure::kForged, why);
    return std::nullopt;
  }
  plain.resize(length);
  std::uint64_t ms = 0;
  for (int i = 0; i < 8; ++i) ms = (ms << 8) | static_cast<unsigned char>(plain[i]);
  std::size_t sender_size = static_cast<unsigned char>(plain[8]);
  if (plain.size() < 9 + sender_size) {
    // Authentic, so only a node of another version could have sealed it.
    count(OpenFailure::kForged, why);
    return std::nullopt;
  }
  Opened out;
  out.sent_ms = static_cast<std::int64_t>(ms);
  auto now = clock_.now_ms();
  if (out.sent_ms < now - options_.max_age_ms || out.sent_ms > now + options_.max_age_ms) {
    count(OpenFailure::kStale, why);
    return std::nullopt;
  }
  // Remembered until it would be stale anyway.
  std::string nonce_key(sealed.substr(1, kNonceBytes));
  if (auto failure = remember(nonce_key, out.sent_ms + options_.max_age_ms, now)) {
    count(*failure, why);
    return std::nullopt;
  }
  out.sender = plain.substr(9, sender_size);
  out.payload = plain.substr(9 + sender_size);
  return out;
}

std::optional<OpenFailure> Seal::remember(const std::string& nonce, std::int64_t expires_ms,
                                          std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  while (!expiries_.empty() && expiries_.begin()->first < now_ms) {
    seen_.erase(expiries_.begin()->second);
    expiries_.erase(expiries_.begin());
  }
  if (expires_ms <= forgotten_before_ms_) {
    // Its nonce may have been evicted to make room: it cannot be told from a replay.
    return OpenFailure::kStale;
  }
  if (!seen_.insert(nonce).second) return OpenFailure::kReplayed;
  expiries_.emplace(expires_ms, nonce);
  while (seen_.size() > options_.max_remembered) {
    forgotten_before_ms_ = std::max(forgotten_before_ms_, expiries_.begin()->first);
    seen_.erase(expiries_.begin()->second);
    expiries_.erase(expiries_.begin());
  }
  return std::nullopt;
}

SealCounters Seal::counters() const { return {forged_.load(), stale_.load(), replayed_.load()}; }

}  // namespace ds::cluster
