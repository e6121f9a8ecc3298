# packaging.cmake — the `cmake --install` layout and `cpack -G DEB` (README.md, "Install"):
#   <prefix>/bin/ringprobe, <prefix>/bin/ringprobectl
#   ${RINGPROBE_CONFIG_DIR}/ringprobe.toml          (/etc/ringprobe: the daemon's default --config)
#   <prefix>/lib/systemd/system/ringprobe.service   (ExecStart pointing at <prefix>/bin/ringprobe)
#   <prefix>/share/doc/ringprobe/                   (README.md, docs/)
# The .deb installs with prefix /usr, marks the configuration a conffile (kept on upgrade and
# remove, deleted on purge) and declares its shared-library dependencies (dpkg-shlibdeps).
include(GNUInstallDirs)

# `make install` / cpack install what was built and build nothing themselves (as `cmake --install`
# never does): the package test then cannot rebuild the tree under tests that are running.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(RINGPROBE_CONFIG_DIR /etc/ringprobe CACHE PATH
    "Directory of the installed configuration (the daemon's default --config is here)")
set(RINGPROBE_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING
    "systemd unit directory, relative to the install prefix")

install(TARGETS ringprobe ringprobectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/conf/ringprobe.toml DESTINATION ${RINGPROBE_CONFIG_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# The unit names the binary by its installed path, known only when installing (cpack installs with
# its own prefix): rewrite conf/ringprobe.service's /usr/local/bin then.
install(CODE "
    file(READ \"${PROJECT_SOURCE_DIR}/conf/ringprobe.service\" rp_unit)
    string(REPLACE \"/usr/local/bin/ringprobe\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/ringprobe\" rp_unit \"\${rp_unit}\")
    string(REPLACE \"/etc/ringprobe/ringprobe.toml\" \"${RINGPROBE_CONFIG_DIR}/ringprobe.toml\" rp_unit \"\${rp_unit}\")
    file(WRITE \"${CMAKE_BINARY_DIR}/ringprobe.service.installed/ringprobe.service\" \"\${rp_unit}\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${RINGPROBE_SYSTEMD_UNIT_DIR}\"
         TYPE FILE FILES \"${CMAKE_BINARY_DIR}/ringprobe.service.installed/ringprobe.service\")
")

# --- cpack -G DEB
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ringprobe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR ringprobe)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "host probe daemon serving the Datadog Agent's system-probe API (io_uring, eBPF)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "ringprobe developers <ringprobe@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "A single-threaded io_uring daemon that serves the same local HTTP API as the Datadog\n Agent's system-probe (modules, several of them eBPF probes), plus Prometheus metrics,\n live event streams, systemd notification and reload.")
# Shared-library dependencies as dpkg-shlibdeps computes them (libbpf1, liburing2, libsimdjson14,
# libelf1, zlib1g, libstdc++6, libc6, libgcc-s1 in a normal build).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(_rp_conffiles ${CMAKE_BINARY_DIR}/cpack/conffiles)
file(WRITE ${_rp_conffiles} "${RINGPROBE_CONFIG_DIR}/ringprobe.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_rp_conffiles})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
include(CPack)
