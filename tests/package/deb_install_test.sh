#!/usr/bin/env bash
# Step 4 of deb_test.sh, run by it inside `unshare --mount`: everything written to /usr, /etc and
# /var lands in overlay upper dirs on a tmpfs that go away with the namespace.
# Usage: deb_install_test.sh WORK DEB VERSION
set -euo pipefail
WORK="$1" DEB="$2" VERSION="$3"
fail() { echo "FAIL: $*"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends)

OVL="$WORK/ovl"
mkdir -p "$OVL"
mount -t tmpfs -o size=1g hffs-pkgtest "$OVL"
for d in usr etc var; do  # /bin, /sbin, /lib are links into /usr on Debian 12
  mkdir -p "$OVL/$d.lower" "$OVL/$d.up" "$OVL/$d.work"
  mount --bind "/$d" "$OVL/$d.lower"  # the machine's own tree, to tell copied-up dirs from new ones
  mount -t overlay overlay -o "lowerdir=$OVL/$d.lower,upperdir=$OVL/$d.up,workdir=$OVL/$d.work" "/$d"
done
[ -L /sbin ] && [ -L /lib ] || fail "not a merged-/usr system: /sbin and /lib are not in the overlay"

# The machine may hold an hffs from `cmake --install` or test_ops's own helper link
# (/sbin/mount.fuse.hffs): hidden in here so the package installs as on a fresh system.
for f in /usr/bin/hffs /sbin/mount.fuse.hffs /sbin/mount.hffs /lib/systemd/system/hffs@.service /etc/hffs /var/cache/hffs; do
  if [ -e "$f" ] || [ -L "$f" ]; then echo "note: $f exists on this machine, hidden in here"; rm -rf "$f"; fi
done
upper_listing() {  # every path in the upper dirs, "d PATH" for directories
  local d
  for d in usr etc var; do
    (cd "$OVL/$d.up" && find . -mindepth 1 \( -type d -printf "d /$d/%P\n" \) -o -printf "f /$d/%P\n")
  done | sort
}
upper_listing >"$WORK/upper.before"

"${APT[@]}" install "$DEB" >"$WORK/apt-install.log" 2>&1 || { cat "$WORK/apt-install.log"; fail "apt install"; }
[ "$(dpkg-query -W -f '${Status}' hffs)" = "install ok installed" ] || fail "not installed"
dpkg -L hffs | sort >"$WORK/owned"

echo "installed; checking"
ver="$(/usr/bin/hffs --version)"
[ "$ver" = "hffs $VERSION" ] || fail "hffs --version printed '$ver', not 'hffs $VERSION'"
[ "$(readlink -f /sbin/mount.fuse.hffs)" = /usr/bin/hffs ] || fail "/sbin/mount.fuse.hffs"
for page in /usr/share/man/man1/hffs.1.gz /usr/share/man/man8/mount.fuse.hffs.8.gz; do
  MANWIDTH=80 man --warnings -l "$page" >/dev/null 2>"$WORK/man.err" || fail "man -l $page"
  [ ! -s "$WORK/man.err" ] || { cat "$WORK/man.err"; fail "man warnings in $page"; }
done
[ "$(readlink -f "$(man -w mount.hffs)")" = /usr/share/man/man8/mount.fuse.hffs.8.gz ] || fail "man -w mount.hffs: $(man -w mount.hffs)"
man -w hffs >/dev/null || fail "man cannot find hffs(1)"

cp /lib/systemd/system/hffs@.service "$WORK/hffs@pkgtest.service"
grep -q '^ExecStart=/usr/bin/hffs mount ' "$WORK/hffs@pkgtest.service" || fail "unit does not run /usr/bin/hffs"
out="$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$WORK/hffs@pkgtest.service" 2>&1 || true)"
if grep -i 'hffs@' <<<"$out"; then fail "systemd-analyze verify found problems in the installed unit"; fi

# mount(8) runs our helper for -t fuse.hffs and -t hffs, and mount.fuse3 runs `hffs` for
# -t fuse with an hffs#REPO source: each answers with the parser's own error for a bogus option.
mkdir -p "$WORK/mnt"
for form in "-t fuse.hffs org/name" "-t hffs org/name" "-t fuse hffs#org/name"; do
  # shellcheck disable=SC2086
  if mount $form "$WORK/mnt" -o ro,pkgtest_bogus >"$WORK/mount.out" 2>&1; then fail "mount $form succeeded"; fi
  grep -q "unknown mount option 'pkgtest_bogus'" "$WORK/mount.out" || { cat "$WORK/mount.out"; fail "mount $form did not reach hffs"; }
done
reply="$(bash -c 'source /usr/share/bash-completion/completions/hffs; COMP_WORDS=(hffs mo); COMP_CWORD=1; _hffs; echo "${COMPREPLY[*]}"')"
[ "$reply" = mount ] || fail "installed completion: 'hffs mo' gave '$reply'"
echo "hffs --version, 2 man pages, systemd-analyze verify, 3 mount forms, completion: ok"

# What the daemon makes: the systemd instances' cache and their configs (README).
mkdir -p /var/cache/hffs/blocks /etc/hffs
echo data >/var/cache/hffs/blocks/x
echo HFFS_REPO=org/name >/etc/hffs/llama.env

"${APT[@]}" install --reinstall "$DEB" >>"$WORK/apt-install.log" 2>&1 || { cat "$WORK/apt-install.log"; fail "reinstall"; }
[ "$(/usr/bin/hffs --version)" = "hffs $VERSION" ] || fail "after reinstall"
# An upgrade to a bumped version (same files, Version +.1): prerm/postrm upgrade, files replaced.
mkdir "$WORK/bump" && dpkg-deb -R "$DEB" "$WORK/bump"
sed -i "s/^Version: .*/Version: $VERSION.1/" "$WORK/bump/DEBIAN/control"
dpkg-deb -b --root-owner-group "$WORK/bump" "$WORK/hffs_bump.deb" >/dev/null
"${APT[@]}" install "$WORK/hffs_bump.deb" >>"$WORK/apt-install.log" 2>&1 || { cat "$WORK/apt-install.log"; fail "upgrade"; }
[ "$(dpkg-query -W -f '${Version}' hffs)" = "$VERSION.1" ] || fail "upgrade did not take"
[ -x /usr/bin/hffs ] && [ -f /var/cache/hffs/blocks/x ] && [ -f /etc/hffs/llama.env ] || fail "upgrade lost files"
echo "reinstall and upgrade to $VERSION.1: ok"

"${APT[@]}" remove hffs >"$WORK/apt-remove.log" 2>&1 || { cat "$WORK/apt-remove.log"; fail "apt remove"; }
left=""
while read -r f; do
  [ -d "$f" ] && continue  # directories shared with other packages (/usr/bin, ...)
  if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <"$WORK/owned"
[ -z "$left" ] || fail "apt remove left:$left"
for d in /usr/share/doc/hffs /usr/share/bash-completion/completions/hffs; do [ ! -e "$d" ] || fail "remove left $d"; done
[ -f /var/cache/hffs/blocks/x ] && [ -f /etc/hffs/llama.env ] || fail "remove (not purge) took the cache or config"
"${APT[@]}" purge hffs >"$WORK/apt-purge.log" 2>&1 || { cat "$WORK/apt-purge.log"; fail "apt purge"; }
[ ! -e /var/cache/hffs ] && [ ! -e /etc/hffs ] || fail "purge left /var/cache/hffs or /etc/hffs"
! dpkg -s hffs >/dev/null 2>&1 || fail "dpkg still knows hffs after purge"

# What the installs wrote and nothing removed: only dpkg's, apt's and man-db's bookkeeping may stay,
# and directories of the machine's own tree that the overlay copied up.
comm -13 "$WORK/upper.before" <(upper_listing) >"$WORK/upper.new"
# dpkg's own database changed: a listing with nothing new would mean this check sees nothing.
grep -q ' /var/lib/dpkg/' "$WORK/upper.new" || fail "the overlay shows no dpkg change: leftover check is blind"
leftover=""
while read -r kind path; do
  case "$path" in
    /var/lib/dpkg/* | /var/log/* | /var/cache/apt/* | /var/lib/apt/* | /var/cache/man/* | /var/cache/debconf/* | /var/cache/ldconfig/*) continue ;;
    /etc/ld.so.cache) continue ;;
  esac
  top="${path#/}"; top="${top%%/*}"
  if [ "$kind" = d ] && [ -d "$OVL/$top.lower/${path#/"$top"/}" ]; then continue; fi
  leftover="$leftover $path"
done <"$WORK/upper.new"
[ -z "$leftover" ] || fail "left behind after purge:$leftover"
echo "remove: all $(wc -l <"$WORK/owned") paths of the package gone, cache and config kept; purge: both gone, nothing else left ($(wc -l <"$WORK/upper.new") new paths in the overlay, all bookkeeping)"
