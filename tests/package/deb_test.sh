#!/usr/bin/env bash
# The Debian package end to end (issue 17), from an already built tree:
#   1 cpack builds hffs_VERSION_ARCH.deb into a temp dir (no rebuild)
#   2 its file list is exactly the expected one, owned by root; the control fields (Version from
#     project(VERSION), Depends: fuse3 and the shared libraries dpkg-shlibdeps found)
#   3 lintian: no error, and no warning that docs/PACKAGING.md does not list (lintian-allowed)
#   4 inside a private mount namespace whose /usr, /etc and /var are overlays on a tmpfs (the
#     machine and the other tests, which link /sbin/mount.fuse.hffs themselves, never see it): apt
#     installs the .deb, `hffs --version`, man --warnings on each page, systemd-analyze verify on
#     the installed unit, mount(8) finding the helper (directly and through mount.fuse3), the
#     completion; then a reinstall, an upgrade to a bumped version, remove (every file of the
#     package gone, the caches and configs kept), purge (/var/cache/hffs and /etc/hffs gone), and
#     the overlays' upper dirs hold nothing but dpkg/apt/man-db bookkeeping.
# Usage: deb_test.sh BUILD_DIR VERSION   (ctest: package.deb). Needs root.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"

if [ "${1:-}" = --inside ]; then
  exec bash "$SRC/tests/package/deb_install_test.sh" "${@:2}"
fi

BUILD="$(cd "${1:?usage: deb_test.sh BUILD_DIR VERSION}" && pwd)"
VERSION="${2:?usage: deb_test.sh BUILD_DIR VERSION}"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg, mount namespaces)"

WORK="$(mktemp -d /tmp/hffs-pkgtest-XXXXXX)"
chmod 755 "$WORK"  # apt reads the .deb as _apt
trap 'rm -rf "$WORK"' EXIT

echo "--- 1 cpack"
(cd "$BUILD" && cpack -G DEB -B "$WORK/out") >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack"; }
DEB="$(ls "$WORK"/out/hffs_*.deb)"
echo "built $(basename "$DEB"), $(stat -c %s "$DEB") bytes"
case "$(basename "$DEB")" in "hffs_${VERSION}_$(dpkg --print-architecture).deb") ;; *) fail "file name $DEB" ;; esac

echo "--- 2 contents and control"
dpkg-deb -c "$DEB" >"$WORK/contents"
# Files and links only (directories come with them); "path" or "path -> target".
awk '$1 !~ /^d/ { p = $6; for (i = 7; i <= NF; ++i) p = p " " $i; print p }' "$WORK/contents" | sort >"$WORK/files"
sort >"$WORK/expected" <<'EOF'
./lib/systemd/system/hffs@.service
./sbin/mount.fuse.hffs -> /usr/bin/hffs
./sbin/mount.hffs -> /usr/bin/hffs
./usr/bin/hffs
./usr/share/bash-completion/completions/hffs
./usr/share/doc/hffs/changelog.gz
./usr/share/doc/hffs/copyright
./usr/share/doc/hffs/examples/example.env
./usr/share/man/man1/hffs.1.gz
./usr/share/man/man8/mount.fuse.hffs.8.gz
./usr/share/man/man8/mount.hffs.8.gz -> mount.fuse.hffs.8.gz
EOF
diff -u "$WORK/expected" "$WORK/files" || fail "file list differs (- expected, + in the package)"
awk '$2 != "root/root" { bad = 1; print } END { exit bad }' "$WORK/contents" || fail "entries not owned by root/root"
grep -q ' ./usr/bin/hffs$' <(awk '$1 == "-rwxr-xr-x"' "$WORK/contents") || fail "/usr/bin/hffs is not 0755"
[ "$(dpkg-deb -f "$DEB" Package)" = hffs ] || fail "Package"
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "Version $(dpkg-deb -f "$DEB" Version) != $VERSION"
DEPENDS="$(dpkg-deb -f "$DEB" Depends)"
echo "Depends: $DEPENDS"
dep_names="$(sed 's/ *([^)]*)//g; s/, */\n/g' <<<"$DEPENDS")"
for dep in fuse3 libc6 libstdc++6 libfuse3-3 libcurl4 libssl3; do
  grep -qxF "$dep" <<<"$dep_names" || fail "Depends lacks $dep"
done
[ -n "$(dpkg-deb -f "$DEB" Description)" ] || fail "no Description"
mkdir "$WORK/control" && dpkg-deb -e "$DEB" "$WORK/control"
for s in postinst prerm postrm md5sums; do [ -f "$WORK/control/$s" ] || fail "control.tar lacks $s"; done
grep -q 'rm -rf /var/cache/hffs /etc/hffs' "$WORK/control/postrm" || fail "postrm purge"
(cd "$WORK" && mkdir x && dpkg-deb -x "$DEB" x && cd x && md5sum -c --quiet "$WORK/control/md5sums") || fail md5sums
top="$(zcat "$WORK/x/usr/share/doc/hffs/changelog.gz" | sed -n 1p)"
case "$top" in "hffs ($VERSION) "*) ;; *) fail "packaging/changelog's newest entry '$top' is not $VERSION" ;; esac
ver="$("$WORK/x/usr/bin/hffs" --version)"
[ "$ver" = "hffs $VERSION" ] || fail "packaged hffs --version printed '$ver'"

echo "--- 3 lintian"
if ! command -v lintian >/dev/null; then fail "lintian is not installed (scripts/install-deps.sh)"; fi
lintian --no-cfg --display-info "$DEB" >"$WORK/lintian" 2>&1 || true
cat "$WORK/lintian"
grep -q '^E: ' "$WORK/lintian" && fail "lintian errors"
allowed="$(sed -nE 's/^- `([a-z0-9-]+)`.*/\1/p' "$SRC/docs/PACKAGING.md")"
while read -r level _ tag _; do
  [ "$level" = "W:" ] || continue
  grep -qx "$tag" <<<"$allowed" || fail "lintian warning $tag is not listed in docs/PACKAGING.md"
done <"$WORK/lintian"

echo "--- 4 install, upgrade, remove, purge in a throw-away overlay of /usr, /etc, /var"
unshare --mount --propagation private bash "$0" --inside "$WORK" "$DEB" "$VERSION"
echo "PASS: package test"
