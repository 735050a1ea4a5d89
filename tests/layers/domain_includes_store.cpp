// Layer probe: domain is pure and may not see the store.
#include "store/users.hpp"
