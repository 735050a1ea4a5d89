#include "net/guard.hpp"

#include "util/unavailable.hpp"

namespace ds::net {

Failure classify(const std::exception& e) {
  return Failure{dynamic_cast<const Unavailable*>(&e) != nullptr, e.what()};
}

}  // namespace ds::net
