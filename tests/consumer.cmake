# install.consumer: install this build into a scratch prefix, then configure,
# build and run tests/consumer against it (find_package and pkg-config), as a
# user's project would. Included from tests/CMakeLists.txt.
if(CMAKE_CROSSCOMPILING)
  message(STATUS "weft: test install.consumer skipped: cross-compiling "
                 "(the consumer project would need the toolchain and emulator)")
elseif(NOT WEFT_SANITIZE STREQUAL "")
  message(STATUS "weft: test install.consumer skipped: WEFT_SANITIZE=${WEFT_SANITIZE} "
                 "(the sanitizer runtime's link flags would leak into the consumer)")
else()
  set(_weft_consumer_make "")
  if(CMAKE_MAKE_PROGRAM)
    set(_weft_consumer_make "-DWEFT_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")
  endif()
  add_test(NAME install.consumer
    COMMAND ${CMAKE_COMMAND}
      "-DWEFT_BUILD_DIR=${PROJECT_BINARY_DIR}"
      "-DWEFT_CONSUMER_SOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}/consumer"
      "-DWEFT_PREFIX=${PROJECT_BINARY_DIR}/consumer-prefix"
      "-DWEFT_WORK_DIR=${PROJECT_BINARY_DIR}/consumer"
      "-DWEFT_LIBDIR=${CMAKE_INSTALL_LIBDIR}"
      "-DWEFT_CONFIG=$<CONFIG>"
      "-DWEFT_GENERATOR=${CMAKE_GENERATOR}"
      "-DWEFT_C_COMPILER=${CMAKE_C_COMPILER}"
      ${_weft_consumer_make}
      -P ${CMAKE_CURRENT_LIST_DIR}/consumer-test.cmake)
  set_tests_properties(install.consumer PROPERTIES LABELS install TIMEOUT 600)
  unset(_weft_consumer_make)
endif()
