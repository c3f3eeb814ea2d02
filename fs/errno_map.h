// The one place where typed errors become errno values.
#pragma once
#include "common/status.h"

namespace hffs::fs {
int to_errno(Errc e);
}
