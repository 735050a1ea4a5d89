// net/guard tells a database outage (retry: 503) from anything else (500) by the lower layer's
// exception type, without the net layer knowing the store.
#include "net/guard.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "store/database.hpp"

using namespace ds;

TEST(Guard, ADatabaseOutageIsTemporaryAndAnythingElseIsNot) {
  auto outage = net::classify(store::DatabaseUnavailable("connection refused"));
  EXPECT_TRUE(outage.database_unavailable);
  EXPECT_EQ(outage.what, "connection refused");
  EXPECT_FALSE(net::classify(std::runtime_error("bug")).database_unavailable);
  EXPECT_FALSE(net::classify(std::logic_error("bug")).database_unavailable);

  net::Failure seen;
  net::run_guarded(
      "test", [] { throw store::DatabaseUnavailable("locked"); },
      [&](const net::Failure& f) { seen = f; });
  EXPECT_TRUE(seen.database_unavailable);
}
