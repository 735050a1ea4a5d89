// Layer probe: video encodes pictures; it knows nothing of streams in flight (live) or sockets.
#include "live/hub.hpp"
