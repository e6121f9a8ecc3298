# aarch64-linux-gnu.cmake — CMake toolchain file: ringprobe for 64-bit Arm (arm64) from an x86-64
# Debian 12 host, with Debian's cross compilers and the arm64 libraries through multiarch.
#
#   tools/setup arm64        # crossbuild-essential-arm64, qemu-user-static, the arm64 -dev packages
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=tools/cross/aarch64-linux-gnu.cmake
#   cmake --build build-arm64 -j2 --target ringprobe
#   tools/test arm64         # builds what the qemu-user tests need and runs them (docs/EDGE.md)
#
# The BPF objects are compiled by the host's clang for the BPF target with -D__TARGET_ARCH_arm64
# against the checked-in bpf/vmlinux/aarch64/vmlinux.h (bpf/CMakeLists.txt never uses the host's
# own BTF for another architecture); bpftool runs on the host. Test executables run through
# qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR), which CTest puts in front of each.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(RP_CROSS_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${RP_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${RP_CROSS_TRIPLE}-g++)
set(CMAKE_STRIP ${RP_CROSS_TRIPLE}-strip CACHE FILEPATH "strip for the target")

# Debian multiarch: the target's libraries in /usr/lib/aarch64-linux-gnu, headers shared in
# /usr/include (plus /usr/include/aarch64-linux-gnu), which the cross compiler searches itself.
set(CMAKE_LIBRARY_ARCHITECTURE ${RP_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # clang, bpftool, go: the host's
# pkg-config must describe the target's libraries, not the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${RP_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Tests run under qemu-user; -L makes the target's dynamic loader and libraries found.
find_program(RP_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(RP_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${RP_QEMU_AARCH64};-L;/usr/${RP_CROSS_TRIPLE})
endif()
