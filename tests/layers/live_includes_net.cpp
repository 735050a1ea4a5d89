// Layer probe: live holds role logic, not sockets; it may not see net.
#include "net/ws_session.hpp"
