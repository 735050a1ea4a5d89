// Password hashing (Argon2id), random tokens, digests and constant-time comparison (libsodium).
#pragma once

#include <string>
#include <string_view>

namespace ds::auth {

// Must be called once before any other function here (idempotent, thread-safe).
void init_crypto();

// Argon2id hash in libsodium's self-describing string form.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view hash, std::string_view password);

// prefix + 32 random bytes in URL-safe base64 (no padding): 256 bits of entropy.
std::string random_token(std::string_view prefix);

// Hex SHA-256: how tokens are stored, so a database leak reveals no usable token.
std::string sha256_hex(std::string_view data);

bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace ds::auth
