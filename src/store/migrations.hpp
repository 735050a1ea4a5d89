// Versioned schema migrations, applied in order at start-up.
#pragma once

#include "store/database.hpp"

namespace ds::store {

// Applies every migration newer than the recorded schema version; returns the new version.
int migrate(Database& db);

// The newest schema version this build knows.
int latest_schema_version();

}  // namespace ds::store
