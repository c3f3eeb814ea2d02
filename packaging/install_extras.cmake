# Install-time part of the install rules: what depends on the prefix being installed to, which is
# /usr for the package (CPack) and /usr/local for `cmake --install build`. HFFS_SOURCE_DIR is set
# by an install(CODE) just before (packaging/CMakeLists.txt). DESTDIR is CPack's staging root.
set(root "$ENV{DESTDIR}")
set(bin "${CMAKE_INSTALL_PREFIX}/bin/hffs")

# mount(8) runs /sbin/mount.<type> (libmount's helper path; /sbin is /usr/sbin on Debian 12):
# `-t fuse.hffs` (fstab) runs mount.fuse.hffs, `-t hffs` mount.hffs. Absolute links: they cross
# from /sbin to /usr.
file(MAKE_DIRECTORY "${root}/sbin")
foreach(name mount.fuse.hffs mount.hffs)
  file(REMOVE "${root}/sbin/${name}")
  file(CREATE_LINK "${bin}" "${root}/sbin/${name}" SYMBOLIC)
endforeach()
set(man8 "${root}${CMAKE_INSTALL_PREFIX}/share/man/man8")
file(REMOVE "${man8}/mount.hffs.8.gz")
file(CREATE_LINK mount.fuse.hffs.8.gz "${man8}/mount.hffs.8.gz" SYMBOLIC)

# The systemd template unit, calling the binary where this prefix put it. A package's units live in
# /lib/systemd/system on Debian 12; a /usr/local install uses /usr/local/lib/systemd/system, which
# systemd searches too (the admin's /etc/systemd/system stays the admin's).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unitdir "${root}/lib/systemd/system")
else()
  set(unitdir "${root}${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
file(READ "${HFFS_SOURCE_DIR}/systemd/hffs@.service" unit)
string(REPLACE "/usr/local/bin/hffs" "${bin}" unit "${unit}")
file(MAKE_DIRECTORY "${unitdir}")
file(WRITE "${unitdir}/hffs@.service" "${unit}")
message(STATUS "Installing: ${unitdir}/hffs@.service, ${root}/sbin/mount.fuse.hffs, ${root}/sbin/mount.hffs")
