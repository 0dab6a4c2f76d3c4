// Fonts embedded in the UI library at build time (see ui/CMakeLists.txt).
#pragma once
#include <string>
#include <vector>

namespace stacklab::ui {

struct EmbeddedFile {
    std::string name;
    std::string bytes;
};

const std::vector<EmbeddedFile>& embedded_fonts();

}  // namespace stacklab::ui
