// The Models tab's data, embedded in the UI library at build time (see ui/CMakeLists.txt): the
// shipped classifiers and a real slice of Fashion-MNIST. Bytes in the binary: the core reads them
// like any other input (nn::onnx::parse_model, nn::parse_idx) and never opens a file.
#pragma once
#include <string>
#include <vector>

#include "ui/fonts.hpp"  // EmbeddedFile

namespace stacklab::ui {

// Every models/fashion_*.onnx, named by its path from the repository root, in sorted order.
const std::vector<EmbeddedFile>& embedded_classifiers();

// The IDX files train-images-idx3-ubyte and train-labels-idx1-ubyte cut to their first 256 records
// (calibration), t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte to their first 1000 (evaluation),
// under those names. Empty when the build had no Fashion-MNIST (scripts/install-deps.sh).
const std::vector<EmbeddedFile>& embedded_fashion_slice();

}  // namespace stacklab::ui
