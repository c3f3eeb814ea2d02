#include "cli/format.h"

#include <cinttypes>
#include <cstdio>

namespace hffs::cli {

std::string format_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string format_bytes_exact(uint64_t bytes) {
  if (bytes < 1024) return format_bytes(bytes);
  return format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

std::string format_rate(double bytes_per_second) {
  // !(x > 0) also catches NaN; 1.8e19 is past every uint64_t.
  uint64_t b = !(bytes_per_second > 0) ? 0 : bytes_per_second >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(bytes_per_second);
  return format_bytes(b) + "/s";
}

std::string format_seconds(double s) {
  char buf[32];
  if (!(s >= 0)) s = 0;
  if (s > 1e15) s = 1e15;  // an ETA at a near-zero rate: keep the conversions below defined
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "h%02dm", static_cast<int64_t>(s) / 3600,
                  static_cast<int>((static_cast<int64_t>(s) / 60) % 60));
  }
  return buf;
}

}  // namespace hffs::cli
