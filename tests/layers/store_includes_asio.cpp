// Layer probe: no Asio below net.
#include <boost/asio/io_context.hpp>
