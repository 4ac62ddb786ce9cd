# The readme_example test (cmake -P): the program shown in README.md under
# "<!-- example: docs/example.c -->" is docs/example.c, byte for byte, so the
# README shows what the example test compiles and runs. In: README, EXAMPLE.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
set(marker "<!-- example: docs/example.c -->\n```c\n")
string(FIND "${readme}" "${marker}" at)
if(at LESS 0)
  message(FATAL_ERROR "readme_example: no \"<!-- example: docs/example.c -->\" block in ${README}")
endif()
string(LENGTH "${marker}" mlen)
math(EXPR at "${at} + ${mlen}")
string(SUBSTRING "${readme}" ${at} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} shown)
if(NOT shown STREQUAL example)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_example.c" "${shown}")
  message(FATAL_ERROR "readme_example: README.md shows a different program than ${EXAMPLE}; "
    "compare with ${CMAKE_CURRENT_BINARY_DIR}/readme_example.c")
endif()
message(STATUS "readme_example: README.md shows docs/example.c")
