#include "net/guard.hpp"

#include "store/database.hpp"

namespace ds::net {

Failure classify(const std::exception& e) { return Failure{store::is_unavailable(e), e.what()}; }

}  // namespace ds::net
