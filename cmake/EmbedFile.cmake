# cmake -DIN=file -DOUT=file.c -DNAME=sym -P EmbedFile.cmake: the bytes of IN
# as `const unsigned char NAME[]` and `const size_t NAME_len` in OUT.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n\t"
  bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/EmbedFile.cmake. */\n#include <stddef.h>\n\n"
  "extern const unsigned char ${NAME}[];\nextern const size_t ${NAME}_len;\n"
  "const unsigned char ${NAME}[] = {\n\t${bytes}\n};\nconst size_t ${NAME}_len = ${len};\n")
