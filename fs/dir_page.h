// One readdir page over any listing (FUSE-free): the paging and attribute rules shared by
// Filesystem and HubNamespace.
#pragma once
#include <sys/stat.h>

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "fs/ops.h"

namespace hffs::fs {

// Entry i of a listing: ".", ".." first (i < 2), then the children.
struct DirItem {
  std::string_view name;
  uint64_t ino;
  bool is_dir;
};

// Hands entries [offset, count) to `out` until it is full. `item_at(i)` yields a DirItem;
// `attr_of(item)` a Result<Attr>, asked for readdirplus only. The dot entries carry no attributes
// (the kernel resolves them itself), nor does a child whose attributes cannot be had: the kernel
// then looks it up when it needs it.
template <class ItemAt, class AttrOf>
void fill_dir_page(DirFiller& out, uint64_t offset, uint64_t count, ItemAt&& item_at, AttrOf&& attr_of) {
  const bool plus = out.plus();
  for (uint64_t i = offset; i < count; ++i) {
    const DirItem d = item_at(i);
    Attr a;
    bool entry = false;
    if (!plus) {
      a.ino = d.ino;
      a.mode = d.is_dir ? S_IFDIR : S_IFREG;
    } else if (i < 2) {
      a.ino = d.ino;
      a.mode = S_IFDIR;
    } else if (Result<Attr> r = attr_of(d); r) {
      a = *r;
      entry = true;
    }  // else only the name (ino 0): the kernel looks the child up when it needs it
    if (!out.add(d.name, a, entry, i + 1)) return;  // did not fit; the kernel asks again from i
  }
}

}  // namespace hffs::fs
