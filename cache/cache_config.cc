// Parsing of the CacheConfig values users spell (block_cache.h).
#include <cstdlib>
#include <string>

#include "cache/block_cache.h"

namespace hffs::cache {

Result<SizeSpec> parse_size(const std::string& text) {
  SizeSpec s;
  if (text.empty()) return Status(Errc::kInvalidInput, "empty size");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit(end);
  if (end == text.c_str() || !(v > 0)) return Status(Errc::kInvalidInput, "size '" + text + "' is not a positive number");
  if (unit == "%") {
    if (v > 100) return Status(Errc::kInvalidInput, "size '" + text + "' is more than 100%");
    s.percent = v;
    return s;
  }
  if (unit.size() == 3 && (unit[1] == 'i' || unit[1] == 'I') && (unit[2] == 'B' || unit[2] == 'b')) unit.resize(1);
  if (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) unit.resize(1);
  double mul = 1;
  if (unit.empty() || unit == "B" || unit == "b") mul = 1;
  else if (unit == "K" || unit == "k") mul = 1024.0;
  else if (unit == "M" || unit == "m") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
  else return Status(Errc::kInvalidInput, "size '" + text + "': unknown unit (use K, M, G, T or %)");
  s.bytes = static_cast<uint64_t>(v * mul);
  if (s.bytes == 0) return Status(Errc::kInvalidInput, "size '" + text + "' is zero");
  return s;
}

Result<VerifyMode> parse_verify_mode(const std::string& text) {
  if (text == "auto") return VerifyMode::kAuto;
  if (text == "strict") return VerifyMode::kStrict;
  if (text == "off") return VerifyMode::kOff;
  return Status(Errc::kInvalidInput, "verify mode '" + text + "': use auto or strict");
}

}  // namespace hffs::cache
