// Force-included into every layer below net (CMakeLists.txt, ds_below_net): sockets are net's
// and worker's business, so Boost.Beast and Asio cannot be used there. Including one of their
// headers fails with "attempt to use poisoned". See docs/architecture.md, "Layers".
#pragma once
#pragma GCC poison beast asio
