# Cross toolchain: Linux aarch64 with Debian's gcc-aarch64-linux-gnu.
#
# Used by the `aarch64` preset. Tests run through qemu-user: CTest prefixes
# every test executable with CMAKE_CROSSCOMPILING_EMULATOR. Debian packages:
#   gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# (g++-aarch64-linux-gnu only if a C++ target is enabled, e.g. the benchmarks).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(WEFT_CROSS_TRIPLE aarch64-linux-gnu)
set(WEFT_CROSS_SYSROOT /usr/${WEFT_CROSS_TRIPLE})

set(CMAKE_C_COMPILER   ${WEFT_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${WEFT_CROSS_TRIPLE}-g++)
set(CMAKE_ASM_COMPILER ${WEFT_CROSS_TRIPLE}-gcc)

# -L: where qemu finds the aarch64 dynamic loader and libc.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;${WEFT_CROSS_SYSROOT})

# Search headers, libraries and packages in the cross root only, so host
# (x86-64) hwloc, mimalloc and benchmark are never picked up; programs (the
# host's pkg-config, qemu, ...) come from the host.
set(CMAKE_FIND_ROOT_PATH ${WEFT_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Likewise pkg-config (run at configure time only) reads the cross root's
# .pc files, never the host's /usr/lib/x86_64-linux-gnu/pkgconfig.
set(ENV{PKG_CONFIG_LIBDIR} "${WEFT_CROSS_SYSROOT}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
