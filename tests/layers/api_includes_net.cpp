// Layer probe: api shapes replies; the socket layer above it is out of sight.
#include "net/server.hpp"
