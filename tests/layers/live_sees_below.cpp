// Layer probe, the control: live sees its own folder and every layer below it.
#include "auth/auth_service.hpp"
#include "domain/credits.hpp"
#include "live/hub.hpp"
#include "store/users.hpp"
#include "util/expected.hpp"

int layer_probe_ok() { return 0; }
