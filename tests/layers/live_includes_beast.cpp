// Layer probe: Boost.Beast is for net and worker only.
#include <boost/beast/websocket.hpp>
