// Something a request needs is away for now (the database): not the request's fault, and worth
// another try later (HTTP 503). store::DatabaseUnavailable is one; the net layer tells an outage
// from a bug by this type alone, without knowing the store.
#pragma once

#include <stdexcept>

namespace ds {

class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ds
