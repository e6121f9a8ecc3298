# flags.cmake — the fuzz build's compile flags. The root CMakeLists.txt includes this file before it
# defines any target, so that with RINGPROBE_FUZZ=ON every library (llhttp, rp_loop, rp_http,
# rp_conf, rp_modules) is instrumented for libFuzzer and built with ASan and UBSan; only the fuzz
# executables themselves link libFuzzer's main (tests/fuzz/CMakeLists.txt).
#
# The fuzz build is its own build directory, configured with CC=clang CXX=clang++ (tools/fuzz).
option(RINGPROBE_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang)" OFF)
if(RINGPROBE_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "RINGPROBE_FUZZ=ON needs clang (configure with CC=clang CXX=clang++), "
                            "not ${CMAKE_CXX_COMPILER_ID}")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                        -fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/ubsan_ignorelist.txt
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
    # libstdc++ 12 hides std::expected from clang < 16 (see compat/expected); give it ours.
    if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
        include_directories(BEFORE SYSTEM ${CMAKE_CURRENT_LIST_DIR}/compat)
    endif()
endif()
