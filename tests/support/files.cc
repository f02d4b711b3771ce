#include "tests/support/files.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace docshare::testing {

std::filesystem::path CorpusPath(const std::string& relative) {
  return TestdataPath("corpus") / relative;
}

std::filesystem::path TestdataPath(const std::string& relative) {
  return std::filesystem::path(DOCSHARE_SOURCE_DIR) / "testdata" / relative;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::filesystem::path> ListFiles(const std::filesystem::path& dir,
                                             const std::string& suffix) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace docshare::testing
