# The install_consumer test (cmake -P): installs the build tree into a
# scratch prefix, builds cmake/consumer against it with find_package(clcp)
# and with pkg-config (CMake's and a bare compiler command line), and runs
# every consumer. Then checks a DESTDIR install keeps the configured prefix.
# In: SOURCE_DIR BUILD_DIR WORK_DIR C_COMPILER GENERATOR INSTALL_PREFIX
#     LIBDIR INCLUDEDIR SOVERSION SANITIZE (may be empty)
cmake_minimum_required(VERSION 3.20)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
    OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc}):\n"
      "  ${ARGN}\n${out}")
  endif()
  set(OUT "${out}" PARENT_SCOPE)
endfunction()

function(expect_file f)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "install_consumer: missing ${f}")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(libdir ${prefix}/${LIBDIR})
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/shm)

run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(h clcp.h abi.h endpt.h barrier.h)
  expect_file(${prefix}/${INCLUDEDIR}/clcp/${h})
endforeach()
foreach(f libclcp.a libclcp.so libclcp.so.${SOVERSION} pkgconfig/clcp.pc
    cmake/clcp/clcpConfig.cmake cmake/clcp/clcpConfigVersion.cmake
    cmake/clcp/clcpTargets.cmake)
  expect_file(${libdir}/${f})
endforeach()
file(STRINGS ${libdir}/pkgconfig/clcp.pc pc_prefix REGEX "^prefix=")
if(NOT pc_prefix STREQUAL "prefix=${prefix}")
  message(FATAL_ERROR "install_consumer: clcp.pc has ${pc_prefix}, want prefix=${prefix}")
endif()

# Sanitized libraries need the sanitizer runtime in the consumer too.
set(cflags "")
if(SANITIZE)
  set(cflags "-fsanitize=${SANITIZE}")
endif()

set(env ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${libdir}/pkgconfig
  LD_LIBRARY_PATH=${libdir} CLCP_SHM_DIR=${WORK_DIR}/shm CLCP_BACKEND=loopback CLCP_NODE=202)
run("consumer configure" ${env} ${CMAKE_COMMAND} -G ${GENERATOR}
  -S ${SOURCE_DIR}/cmake/consumer -B ${WORK_DIR}/consumer
  -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_C_FLAGS=${cflags}
  -DCMAKE_PREFIX_PATH=${prefix} -DPKG_CONFIG_USE_CMAKE_PREFIX_PATH=OFF)
run("consumer build" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)

# What a Makefile user types.
run("pkg-config" ${env} pkg-config --cflags --libs clcp)
string(STRIP "${OUT}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run("pkg-config --static" ${env} pkg-config --static --libs clcp)
if(NOT OUT MATCHES "-pthread")
  message(FATAL_ERROR "install_consumer: pkg-config --static lacks -pthread: ${OUT}")
endif()
run("compile with pkg-config flags" ${C_COMPILER} ${cflags}
  ${SOURCE_DIR}/cmake/consumer/main.c ${pc_flags} -o ${WORK_DIR}/consumer_cc)

foreach(exe consumer/consumer_shared consumer/consumer_static
    consumer/consumer_pc consumer_cc)
  run("running ${exe}" ${env} ${WORK_DIR}/${exe})
  if(NOT OUT MATCHES "consumer: loopback node 202, endpoint fd [0-9]+, -EINVAL: ")
    message(FATAL_ERROR "install_consumer: ${exe} printed:\n${OUT}")
  endif()
  message(STATUS "${exe}: ${OUT}")
endforeach()

# Packagers install with DESTDIR: files move, clcp.pc keeps the real prefix.
run("DESTDIR install" ${CMAKE_COMMAND} -E env DESTDIR=${WORK_DIR}/destdir
  ${CMAKE_COMMAND} --install ${BUILD_DIR})
set(staged ${WORK_DIR}/destdir${INSTALL_PREFIX}/${LIBDIR})
expect_file(${staged}/libclcp.so.${SOVERSION})
file(STRINGS ${staged}/pkgconfig/clcp.pc pc_prefix REGEX "^prefix=")
if(NOT pc_prefix STREQUAL "prefix=${INSTALL_PREFIX}")
  message(FATAL_ERROR "install_consumer: DESTDIR clcp.pc has ${pc_prefix}")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "install_consumer: find_package, pkg-config and DESTDIR installs work")
