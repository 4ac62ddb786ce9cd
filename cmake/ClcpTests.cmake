# Tests owned by the build: the README example (it runs, and README.md shows
# it as it is) and the installed-tree consumers. Each uses its own
# CLCP_SHM_DIR (and a node id of its own, so a run by hand in the default
# directory does not collide either); they may run in parallel with other
# tests.

add_executable(clcp_example docs/example.c)
target_link_libraries(clcp_example PRIVATE clcp_static)
set(CLCP_EXAMPLE_SHM ${PROJECT_BINARY_DIR}/test-shm/example)
file(MAKE_DIRECTORY ${CLCP_EXAMPLE_SHM})
# Exit status 0 only if both sides sent and received.
add_test(NAME example COMMAND clcp_example)
set_tests_properties(example PROPERTIES TIMEOUT 30
  ENVIRONMENT "CLCP_SHM_DIR=${CLCP_EXAMPLE_SHM};CLCP_BACKEND=loopback;CLCP_NODE=201")
add_test(NAME readme_example COMMAND ${CMAKE_COMMAND}
  -DREADME=${PROJECT_SOURCE_DIR}/README.md
  -DEXAMPLE=${PROJECT_SOURCE_DIR}/docs/example.c
  -P ${PROJECT_SOURCE_DIR}/cmake/CheckReadmeExample.cmake)

get_property(clcp_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
find_program(CLCP_PKG_CONFIG NAMES pkg-config pkgconf)
if(clcp_multi_config)
  message(STATUS "install_consumer test: needs a single-config generator")
elseif(NOT CLCP_PKG_CONFIG)
  message(STATUS "install_consumer test: pkg-config not found, not added")
else()
  add_test(NAME install_consumer COMMAND ${CMAKE_COMMAND}
    -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DBUILD_DIR=${PROJECT_BINARY_DIR}
    -DWORK_DIR=${PROJECT_BINARY_DIR}/install-consumer
    -DC_COMPILER=${CMAKE_C_COMPILER}
    -DGENERATOR=${CMAKE_GENERATOR}
    -DINSTALL_PREFIX=${CMAKE_INSTALL_PREFIX}
    -DLIBDIR=${CMAKE_INSTALL_LIBDIR}
    -DINCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR}
    -DSOVERSION=${CLCP_SOVERSION}
    -DSANITIZE=${CLCP_SANITIZE}
    -P ${PROJECT_SOURCE_DIR}/cmake/InstallConsumerTest.cmake)
  set_tests_properties(install_consumer PROPERTIES TIMEOUT 300
    # It rewrites build/clcp.pc and installs the whole tree: not alongside
    # another install from this build directory.
    RESOURCE_LOCK clcp_install)
endif()

# The libraries define no global name outside clcp_ (the static archive's
# internal names are made local when it is built).
add_test(NAME library_exports COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM}
  -DSTATIC=$<TARGET_FILE:clcp_static> -DSHARED=$<TARGET_FILE:clcp_shared>
  -P ${PROJECT_SOURCE_DIR}/cmake/CheckExports.cmake)
