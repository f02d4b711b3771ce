#ifndef DOCSHARE_TESTS_SUPPORT_FILES_H_
#define DOCSHARE_TESTS_SUPPORT_FILES_H_

#include <filesystem>
#include <string>
#include <vector>

namespace docshare::testing {

// testdata/corpus/<relative>: the image corpus (PngSuite, EXIF orientations,
// sharp's fixtures), sources and licences in testdata/README.md
std::filesystem::path CorpusPath(const std::string& relative);
// testdata/<relative>
std::filesystem::path TestdataPath(const std::string& relative);
// The whole file; fails the test (ADD_FAILURE) and returns "" if unreadable.
std::string ReadFile(const std::filesystem::path& path);
// Files of `dir` whose name ends with `suffix`, sorted.
std::vector<std::filesystem::path> ListFiles(const std::filesystem::path& dir,
                                             const std::string& suffix);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_FILES_H_
