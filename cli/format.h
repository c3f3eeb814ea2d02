// How every hffs command prints sizes and durations: IEC units (KiB, MiB, GiB: powers of 1024,
// as the block size, --part-size and the cache bound are), one decimal.
#pragma once
#include <cstdint>
#include <string>

namespace hffs::cli {

// "0 B", "1023 B", "1.0 KiB", "1.5 GiB".
std::string format_bytes(uint64_t bytes);
// format_bytes plus the exact count when it is rounded: "1.5 GiB (1610612736 bytes)", "12 B".
std::string format_bytes_exact(uint64_t bytes);
// A rate: format_bytes of the whole bytes per second, then "/s". Negative or NaN: "0 B/s".
std::string format_rate(double bytes_per_second);
// "4.2s", "3m07s", "2h05m".
std::string format_seconds(double seconds);

}  // namespace hffs::cli
