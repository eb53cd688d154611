// A fresh directory per test, <tmp>/rtrec_storage_<pid>_<suite>_<test>,
// removed at the end of the test. Shared by the storage test files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace rtrec::storage_test {

class temp_dir {
 public:
  temp_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "rtrec_storage_" + std::to_string(::getpid()) + "_" +
                       info->test_suite_name() + "_" + info->name();
    for (auto& c : name)
      if (c == '/')
        c = '_';
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// A data directory inside it (for storage::recover).
  std::string data_dir() const { return (path_ / "data").string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace rtrec::storage_test
