#include "nn/idx.hpp"

#include <cstring>
#include <stdexcept>

namespace stacklab::nn {

namespace {
std::string dims_text(const std::vector<int64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
    return s + "]";
}
}  // namespace

size_t IdxArray::element_size() const {
    switch (type) {
        case 0x08: case 0x09: return 1;
        case 0x0B: return 2;
        case 0x0C: case 0x0D: return 4;
        case 0x0E: return 8;
        default: return 0;
    }
}

IdxArray parse_idx(const std::string& bytes, const std::string& name) {
    auto fail = [&](const std::string& problem) -> void { throw std::invalid_argument(name + ": " + problem); };
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    if (bytes.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        fail("gzip-compressed data; the IDX reader takes decompressed bytes (gzip -dc)");
    if (bytes.size() < 4) fail("only " + std::to_string(bytes.size()) + " bytes, an IDX header has at least 4");
    if (b[0] != 0 || b[1] != 0) fail("not an IDX file (the magic number must start with two zero bytes)");
    IdxArray a;
    a.type = b[2];
    if (a.element_size() == 0) {
        const char* hex = "0123456789abcdef";
        fail(std::string("unknown element type code 0x") + hex[b[2] >> 4] + hex[b[2] & 15]);
    }
    const size_t rank = b[3];
    if (rank == 0) fail("zero dimensions");
    if (bytes.size() < 4 + 4 * rank) fail("truncated header: " + std::to_string(rank) + " dimensions need " +
                                          std::to_string(4 + 4 * rank) + " bytes");
    uint64_t count = 1;
    for (size_t i = 0; i < rank; ++i) {
        const unsigned char* p = b + 4 + 4 * i;
        const uint64_t d = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
        a.dims.push_back(static_cast<int64_t>(d));
        count *= d;
        if (count > (uint64_t{1} << 34)) fail("dimensions " + dims_text(a.dims) + " are too large");
    }
    const size_t es = a.element_size();
    const size_t have = bytes.size() - 4 - 4 * rank;
    if (have != count * es)
        fail(std::to_string(have) + " bytes of data for dimensions " + dims_text(a.dims) + ", expected " +
             std::to_string(count * es));
    a.data.resize(have);
    const unsigned char* src = b + 4 + 4 * rank;
    // Big-endian elements to host order (StackLab targets are little-endian, onnx_proto.hpp).
    for (size_t e = 0; e < count; ++e)
        for (size_t k = 0; k < es; ++k) a.data[e * es + k] = src[e * es + (es - 1 - k)];
    return a;
}

ImageSet make_image_set(const IdxArray& images, const IdxArray& labels, int classes, const std::string& name) {
    auto fail = [&](const std::string& problem) -> void { throw std::invalid_argument(name + ": " + problem); };
    if (images.type != 0x08 || images.dims.size() != 3) fail("images must be unsigned bytes [n, rows, cols], not " +
                                                             dims_text(images.dims));
    if (labels.type != 0x08 || labels.dims.size() != 1) fail("labels must be unsigned bytes [n], not " + dims_text(labels.dims));
    if (labels.dims[0] != images.dims[0])
        fail(std::to_string(images.dims[0]) + " images but " + std::to_string(labels.dims[0]) + " labels");
    ImageSet s;
    s.count = images.dims[0];
    s.rows = images.dims[1];
    s.cols = images.dims[2];
    s.pixels = images.data;
    s.labels = labels.data;
    for (size_t i = 0; i < s.labels.size(); ++i)
        if (s.labels[i] >= classes)
            fail("label " + std::to_string(i) + " is " + std::to_string(s.labels[i]) + ", expected 0 to " +
                 std::to_string(classes - 1));
    return s;
}

onnx::Tensor image_batch(const ImageSet& set, int64_t first, int64_t n) {
    if (first < 0 || n < 0 || first + n > set.count)
        throw std::invalid_argument("image_batch: images " + std::to_string(first) + " to " + std::to_string(first + n) +
                                    " of a set of " + std::to_string(set.count));
    onnx::Tensor t;
    t.dtype = onnx::DataType::FLOAT;
    t.dims = {n, 1, set.rows, set.cols};
    const size_t pixels = static_cast<size_t>(n * set.rows * set.cols);
    t.data.resize(pixels * sizeof(float));
    const uint8_t* src = set.pixels.data() + static_cast<size_t>(first * set.rows * set.cols);
    for (size_t i = 0; i < pixels; ++i) {
        const float v = static_cast<float>(src[i]) / 255.0f;
        std::memcpy(t.data.data() + i * sizeof(float), &v, sizeof(float));
    }
    return t;
}

}  // namespace stacklab::nn
