// For the API fuzz targets only: password hashes at libsodium's minimum cost instead of the
// server's (Argon2id, 19 MiB), so an input that registers, logs in or changes a password
// costs microseconds rather than tens of milliseconds. The hash is still real Argon2id in the
// same string form, and verification reads the cost from the string, so the code under test
// runs unchanged. This definition interposes on libsodium's (the executable's symbol wins).
#include <dlfcn.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>

extern "C" int crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES], const char* const passwd,
                                     unsigned long long passwdlen, unsigned long long, size_t,
                                     int alg) {
  using Fn = int (*)(char*, const char*, unsigned long long, unsigned long long, size_t, int);
  static const auto real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "crypto_pwhash_str_alg"));
  if (real == nullptr) {
    std::fprintf(stderr, "cheap_password_hash: libsodium's crypto_pwhash_str_alg not found\n");
    std::abort();
  }
  return real(out, passwd, passwdlen, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN, alg);
}
