// IDX files (the MNIST / Fashion-MNIST format) from bytes, and image classification sets built
// from them.
//
// Format (Y. LeCun, C. Cortes, C. Burges, "THE MNIST DATABASE of handwritten digits",
// http://yann.lecun.com/exdb/mnist/, section "FILE FORMATS FOR THE MNIST DATABASE"):
//   bytes 0-1   0x00 0x00
//   byte  2     element type: 0x08 unsigned byte, 0x09 signed byte, 0x0B short (2 bytes),
//               0x0C int (4), 0x0D float (4), 0x0E double (8)
//   byte  3     number of dimensions
//   then one 32-bit big-endian size per dimension, then the elements, row-major, big-endian.
// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, github.com/zalandoresearch/fashion-mnist) uses the
// same files: images idx3-ubyte [n, 28, 28], labels idx1-ubyte [n] with values 0-9.
//
// The core reads uncompressed bytes only. Debian's dataset-fashion-mnist ships the files gzip'd;
// the build decompresses them into the build tree (CMakeLists.txt, `gzip -dc`) because em++ has no
// zlib here (its zlib port is a download), and both CLIs and both test binaries read those copies.
// A gzip stream (1f 8b) is refused with an error that says so.
//
// Errors: std::invalid_argument naming the file and the problem ("t10k-labels-idx1-ubyte: 9992
// bytes of data for dimensions [10000], expected 10000").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/onnx_proto.hpp"

namespace stacklab::nn {

struct IdxArray {
    uint8_t type = 0x08;          // the element type code above
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;    // elements in host (little-endian) byte order
    size_t element_size() const;  // bytes per element of `type`
};

// `name` only names the input in errors. Trailing bytes after the elements are an error too.
IdxArray parse_idx(const std::string& bytes, const std::string& name);

// Images [n, rows, cols] of unsigned bytes and their labels [n] (unsigned bytes < classes).
struct ImageSet {
    int64_t count = 0, rows = 0, cols = 0;
    std::vector<uint8_t> pixels;  // count * rows * cols
    std::vector<uint8_t> labels;  // count
};

ImageSet make_image_set(const IdxArray& images, const IdxArray& labels, int classes, const std::string& name);

// Images first .. first + n - 1 as a float tensor [n, 1, rows, cols] of pixel / 255 (the input
// convention of StackLab's models: no other normalization).
onnx::Tensor image_batch(const ImageSet& set, int64_t first, int64_t n);

}  // namespace stacklab::nn
