# The LANai build: clang --target=lanai compiles the firmware, our
# lanai_ld links it into a flat SRAM image + map, and the build fails if
# the image is over MCP_IMAGE_MAX. On by default when clang has the lanai
# target (Debian's clang 14 does); -DCLCP_LANAI=OFF skips it.

find_program(CLCP_LANAI_CC NAMES clang clang-14)
set(lanai_ok OFF)
if(CLCP_LANAI_CC)
  set(probe ${CMAKE_CURRENT_BINARY_DIR}/lanai_probe.c)
  file(WRITE ${probe} "int lanai_probe(int a);\nint lanai_probe(int a) { return a + 1; }\n")
  execute_process(COMMAND ${CLCP_LANAI_CC} --target=lanai -ffreestanding -c ${probe}
      -o ${CMAKE_CURRENT_BINARY_DIR}/lanai_probe.o
    RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_QUIET)
  if(probe_rc EQUAL 0)
    set(lanai_ok ON)
  endif()
endif()
option(CLCP_LANAI "Build the LANai firmware image (needs clang with the lanai target)"
  ${lanai_ok})
if(NOT CLCP_LANAI)
  return()
endif()
if(NOT lanai_ok)
  message(FATAL_ERROR "CLCP_LANAI=ON but ${CLCP_LANAI_CC} cannot compile for --target=lanai")
endif()

file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/mcp_abi.h image_max_line
  REGEX "^#define MCP_IMAGE_MAX ")
string(REGEX REPLACE ".*MCP_IMAGE_MAX (0x[0-9a-fA-F]+)u.*" "\\1" MCP_IMAGE_MAX "${image_max_line}")

# The linker is a host program (built with the host compiler and flags).
add_executable(lanai_ld ld/lanai_ld.c)

set(lanai_flags --target=lanai -O2 -ffreestanding -fno-builtin -fno-common
  -mcmodel=small -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes
  -Wmissing-prototypes -Werror -I${CMAKE_CURRENT_SOURCE_DIR}
  -I${PROJECT_SOURCE_DIR}/include)
file(GLOB lanai_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h ${PROJECT_SOURCE_DIR}/include/clcp/abi.h)
# Link order: hal_lanai.c holds _start (.text.start goes first anyway).
set(lanai_objs "")
foreach(src lanai/hal_lanai.c mcp.c lanai/rt.c)
  get_filename_component(name ${src} NAME_WE)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/lanai/${name}.o)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/lanai
    COMMAND ${CLCP_LANAI_CC} ${lanai_flags} -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
    DEPENDS ${src} ${lanai_headers}
    COMMENT "LANai: compiling ${src}")
  list(APPEND lanai_objs ${obj})
endforeach()

set(lanai_image ${CMAKE_CURRENT_BINARY_DIR}/clcp_mcp.bin)
set(lanai_map ${CMAKE_CURRENT_BINARY_DIR}/clcp_mcp.map)
add_custom_command(OUTPUT ${lanai_image} ${lanai_map}
  COMMAND lanai_ld -o ${lanai_image} -m ${lanai_map} --max ${MCP_IMAGE_MAX} ${lanai_objs}
  DEPENDS lanai_ld ${lanai_objs}
  COMMENT "LANai: linking clcp_mcp.bin (budget ${MCP_IMAGE_MAX} bytes)")
add_custom_target(lanai_firmware ALL DEPENDS ${lanai_image})

if(CLCP_TESTS)
  find_program(CLCP_LLVM_MC NAMES llvm-mc llvm-mc-14 llvm-mc-15 llvm-mc-16)
  if(CLCP_LLVM_MC)
    add_test(NAME lanai_image
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/lanai/check_image.sh ${CLCP_LLVM_MC}
        ${lanai_image} ${lanai_map})
  else()
    add_test(NAME lanai_image
      COMMAND sh -c "echo 'skipped: llvm-mc not found (Debian package llvm)'; exit 77")
    set_tests_properties(lanai_image PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endif()
