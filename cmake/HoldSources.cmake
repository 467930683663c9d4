# The source sets of the C++ library. setup.py globs the same patterns for the Python extension
# (tests/test_build.py checks that both find the same kernel files).
file(GLOB HOLD_CPU_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/csrc/kernels/*_cpu.cpp)
file(GLOB HOLD_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/csrc/kernels/*_cuda.cu)
file(GLOB HOLD_PUBLIC_HEADERS CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/csrc/core/*.h
  ${PROJECT_SOURCE_DIR}/csrc/kernels/kernels.h
  ${PROJECT_SOURCE_DIR}/csrc/kernels/kernels_api.inc)
