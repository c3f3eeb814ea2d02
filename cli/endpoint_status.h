// The endpoint lines of `hffs status`, from a mount's metrics text (the hffs_endpoint_* series of
// cli/metrics.h): one line per endpoint in preference order, then the failover counts.
#pragma once
#include <string>

namespace hffs::cli {

// One endpoint in good health: "  endpoint:   URL\n" (as before lists existed), with its trouble
// when it has some ("down (why)", "3 failures"). Several:
//   "  endpoints:  URL  up, serving, 0 failures\n"
//   "              URL  down (why), 3 failures, no token\n"
//   "  failovers:  URL -> URL: 2\n"                      (only when some happened)
// No endpoint series (an offline mount): `fallback` (the endpoint hffs_info names, or "-").
// Never a token: the metrics hold none (cli/metrics.h scrub_secret).
std::string endpoint_status(const std::string& metrics_text, const std::string& fallback);

}  // namespace hffs::cli
