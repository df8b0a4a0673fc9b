# Script of the CTest test install.consumer (see consumer.cmake), run as
#   cmake -DWEFT_BUILD_DIR=<weft build> -DWEFT_CONSUMER_SOURCE_DIR=<tests/consumer>
#         -DWEFT_PREFIX=<scratch prefix> -DWEFT_WORK_DIR=<consumer build>
#         -DWEFT_LIBDIR=<CMAKE_INSTALL_LIBDIR> -DWEFT_GENERATOR=<generator>
#         [-DWEFT_CONFIG=<config>] [-DWEFT_C_COMPILER=<cc>] [-DWEFT_MAKE_PROGRAM=<make>]
#         -P consumer-test.cmake
# It installs the weft build into the prefix, builds tests/consumer against it
# and runs the consumer's programs; any failing step fails the test.
cmake_minimum_required(VERSION 3.20)

foreach(v WEFT_BUILD_DIR WEFT_CONSUMER_SOURCE_DIR WEFT_PREFIX WEFT_WORK_DIR
          WEFT_LIBDIR WEFT_GENERATOR)
  if("${${v}}" STREQUAL "")
    message(FATAL_ERROR "consumer-test.cmake: -D${v}=... is required")
  endif()
endforeach()

# Run one step, its output going to the test's log; stop on failure.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install.consumer: ${what} failed: ${rc}")
  endif()
endfunction()

set(config_args "")
if(NOT "${WEFT_CONFIG}" STREQUAL "")
  set(config_args --config "${WEFT_CONFIG}")
endif()

# 1. Install into a fresh scratch prefix.
file(REMOVE_RECURSE "${WEFT_PREFIX}" "${WEFT_WORK_DIR}")
step("cmake --install" ${CMAKE_COMMAND} --install "${WEFT_BUILD_DIR}"
     --prefix "${WEFT_PREFIX}" ${config_args})

if(IS_ABSOLUTE "${WEFT_LIBDIR}")
  set(libdir "${WEFT_LIBDIR}")
else()
  set(libdir "${WEFT_PREFIX}/${WEFT_LIBDIR}")
endif()
foreach(f "${libdir}/pkgconfig/weft.pc" "${libdir}/cmake/weft/weftConfig.cmake")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "install.consumer: ${f} was not installed")
  endif()
endforeach()

# 2. Configure the consumer against it: the CMake package through
#    CMAKE_PREFIX_PATH, the .pc file through PKG_CONFIG_PATH (searched first).
if("$ENV{PKG_CONFIG_PATH}" STREQUAL "")
  set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
else()
  set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig:$ENV{PKG_CONFIG_PATH}")
endif()
set(configure_args -G "${WEFT_GENERATOR}" --no-warn-unused-cli
    "-DCMAKE_PREFIX_PATH=${WEFT_PREFIX}"
    "-DWEFT_CONSUMER_PREFIX=${WEFT_PREFIX}")
if(NOT "${WEFT_CONFIG}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${WEFT_CONFIG}")
endif()
if(NOT "${WEFT_C_COMPILER}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_C_COMPILER=${WEFT_C_COMPILER}")
endif()
if(NOT "${WEFT_MAKE_PROGRAM}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${WEFT_MAKE_PROGRAM}")
endif()
step("configuring tests/consumer" ${CMAKE_COMMAND}
     -S "${WEFT_CONSUMER_SOURCE_DIR}" -B "${WEFT_WORK_DIR}" ${configure_args})

# 3. Build it.
step("building tests/consumer" ${CMAKE_COMMAND} --build "${WEFT_WORK_DIR}" ${config_args})

# 4. Run each program; the shared-library ones must load the installed
#    libweft (their BUILD_RPATH points into the prefix).
find_program(LDD ldd)
foreach(name weft-consumer weft-consumer-static weft-consumer-pkgconfig)
  set(exe "")
  foreach(cand "${WEFT_WORK_DIR}/${name}" "${WEFT_WORK_DIR}/${WEFT_CONFIG}/${name}")
    if(EXISTS "${cand}" AND NOT IS_DIRECTORY "${cand}")
      set(exe "${cand}")
      break()
    endif()
  endforeach()
  if(exe STREQUAL "")
    message(FATAL_ERROR "install.consumer: ${name} was not built")
  endif()
  if(LDD)
    execute_process(COMMAND "${LDD}" "${exe}" OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
    string(REGEX MATCH "libweft\\.so[^\n]*" dep "${deps}")
    if(name STREQUAL "weft-consumer-static")
      if(NOT dep STREQUAL "")
        message(FATAL_ERROR "install.consumer: ${name} should not need libweft.so: ${dep}")
      endif()
    else()
      string(FIND "${dep}" "=> ${WEFT_PREFIX}/" at)
      if(at EQUAL -1)
        message(FATAL_ERROR "install.consumer: ${name} does not load the installed "
                            "libweft.so from ${WEFT_PREFIX}: '${dep}'")
      endif()
    endif()
  endif()
  step("running ${name}" "${exe}")
endforeach()
message(STATUS "install.consumer: find_package, static and pkg-config consumers ran")
