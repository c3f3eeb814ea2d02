#include "cli/format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

namespace hffs::cli {
namespace {

TEST(FormatBytes, IecUnitsOneDecimal) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{8} << 20), "8.0 MiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(format_bytes(uint64_t{2} << 40), "2.0 TiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
}

TEST(FormatBytes, ExactCountWhenRounded) {
  EXPECT_EQ(format_bytes_exact(12), "12 B");
  EXPECT_EQ(format_bytes_exact(1048577), "1.0 MiB (1048577 bytes)");
}

TEST(FormatRate, PerSecondAndNeverUndefined) {
  EXPECT_EQ(format_rate(1.5 * 1024 * 1024), "1.5 MiB/s");
  EXPECT_EQ(format_rate(0), "0 B/s");
  EXPECT_EQ(format_rate(-5), "0 B/s");
  EXPECT_EQ(format_rate(std::nan("")), "0 B/s");
  EXPECT_EQ(format_rate(1e300), "16.0 EiB/s");
}

TEST(FormatSeconds, ShortMediumLong) {
  EXPECT_EQ(format_seconds(4.25), "4.2s");
  EXPECT_EQ(format_seconds(187), "3m07s");
  EXPECT_EQ(format_seconds(7500), "2h05m");
  EXPECT_EQ(format_seconds(1e300), "277777777777h46m");  // an ETA at a near-zero rate: clamped, defined
}

}  // namespace
}  // namespace hffs::cli
