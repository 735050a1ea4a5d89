// Layer probe: store may not see api (ctest layers.store_includes_api expects this to fail).
#include "api/app.hpp"
