# Embeds INPUT as `extern const std::string_view SYMBOL` (namespace docshare)
# in OUTPUT: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -P embed.cmake
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT} by web/embed.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace docshare {\n"
  "namespace {\n"
  "constexpr char kBytes[] = {${bytes}};\n"
  "}  // namespace\n"
  "extern const std::string_view ${SYMBOL}(kBytes, sizeof(kBytes));\n"
  "}  // namespace docshare\n")
