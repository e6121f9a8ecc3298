# The gpu module's stand-ins for the CUDA runtime and NVML (tests/bpf/gpu/), into
# ${CMAKE_BINARY_DIR}/tests/gpu:
#   libcudart.so         fake_cudart.c: the cuda* functions as no-ops (dlopened by cuda_sample)
#   cuda_sample          cuda_sample.c: a script-driven "CUDA program" (dlopen)
#   cuda_sample_static   the same with fake_cudart.c linked in, -static (the runtime and libc in
#                        the executable)
#   libnvidia-ml.so.1    mock_nvml.c: NVML with RP_MOCK_NVML_DEVICES devices
# Built with the C compiler directly and flags of their own (-O2 -g, no sanitizer: a -static
# program cannot take ASan, and the fake runtime must keep real calls for the uprobes), as
# system-probe's tests build their cudasample.c with cc.
set(RP_GPU_TEST_DIR ${CMAKE_BINARY_DIR}/tests/gpu)
set(_src ${CMAKE_CURRENT_LIST_DIR})
file(MAKE_DIRECTORY ${RP_GPU_TEST_DIR})
set(_cc ${CMAKE_C_COMPILER} -O2 -g -Wall -Wno-unused-parameter)
add_custom_command(
    OUTPUT ${RP_GPU_TEST_DIR}/libcudart.so
    COMMAND ${_cc} -shared -fPIC -o ${RP_GPU_TEST_DIR}/libcudart.so ${_src}/fake_cudart.c
    DEPENDS ${_src}/fake_cudart.c ${_src}/fake_cuda.h
    COMMENT "gpu test: libcudart.so (fake CUDA runtime)" VERBATIM)
add_custom_command(
    OUTPUT ${RP_GPU_TEST_DIR}/cuda_sample
    COMMAND ${_cc} -o ${RP_GPU_TEST_DIR}/cuda_sample ${_src}/cuda_sample.c -ldl
    DEPENDS ${_src}/cuda_sample.c ${_src}/fake_cuda.h
    COMMENT "gpu test: cuda_sample" VERBATIM)
add_custom_command(
    OUTPUT ${RP_GPU_TEST_DIR}/cuda_sample_static
    COMMAND ${_cc} -static -DRP_STATIC_CUDA -o ${RP_GPU_TEST_DIR}/cuda_sample_static
            ${_src}/cuda_sample.c ${_src}/fake_cudart.c
    DEPENDS ${_src}/cuda_sample.c ${_src}/fake_cudart.c ${_src}/fake_cuda.h
    COMMENT "gpu test: cuda_sample_static" VERBATIM)
add_custom_command(
    OUTPUT ${RP_GPU_TEST_DIR}/libnvidia-ml.so.1
    COMMAND ${_cc} -shared -fPIC -o ${RP_GPU_TEST_DIR}/libnvidia-ml.so.1 ${_src}/mock_nvml.c
    DEPENDS ${_src}/mock_nvml.c
    COMMENT "gpu test: libnvidia-ml.so.1 (mock NVML)" VERBATIM)
add_custom_target(rp_gpu_test_programs DEPENDS
    ${RP_GPU_TEST_DIR}/libcudart.so ${RP_GPU_TEST_DIR}/cuda_sample
    ${RP_GPU_TEST_DIR}/cuda_sample_static ${RP_GPU_TEST_DIR}/libnvidia-ml.so.1)
