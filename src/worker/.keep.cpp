// Keeps ds_worker a valid library while src/worker/ grows.
