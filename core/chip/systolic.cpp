// SCALE-Sim v2 compatible systolic-array cycle model; see systolic.hpp for the model and sources.
// Our own C++ reimplementation: the file and revision each rule comes from is cited next to it.
#include "chip/systolic.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace stacklab::chip {

ScalesimInputError::ScalesimInputError(std::string input, int line, std::string field, const std::string& problem)
    : std::invalid_argument(input + ":" + std::to_string(line) + ": " + field + ": " + problem),
      input_(std::move(input)),
      line_(line),
      field_(std::move(field)) {}

const char* dataflow_name(Dataflow d) {
    switch (d) {
        case Dataflow::os: return "os";
        case Dataflow::ws: return "ws";
        case Dataflow::is: return "is";
    }
    return "?";
}

namespace {

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        if (c == '\n') {
            lines.push_back(cur);
            cur.clear();
        } else if (c != '\r') {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) lines.push_back(cur);
    return lines;
}

// Python int() on a stripped field: optional sign, decimal digits. Bounded so that every product
// the model forms stays far below 2^63 (and the percentages' operands below 2^53).
int64_t parse_int(const std::string& raw, const std::string& input, int line, const std::string& field) {
    const std::string s = trim(raw);
    if (s.empty()) throw ScalesimInputError(input, line, field, "empty value, expected an integer");
    size_t i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == s.size()) throw ScalesimInputError(input, line, field, "\"" + s + "\" is not an integer");
    int64_t v = 0;
    for (; i < s.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            throw ScalesimInputError(input, line, field, "\"" + s + "\" is not an integer");
        v = v * 10 + (s[i] - '0');
        if (v > 1000000000000LL) throw ScalesimInputError(input, line, field, "\"" + s + "\" is too large");
    }
    return neg ? -v : v;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Config: Python configparser semantics as far as SCALE-Sim's files use them (scale_config.py).
SystolicConfig parse_scalesim_config(const std::string& text, const std::string& input) {
    struct Value {
        std::string text;
        int line;
    };
    std::map<std::string, std::map<std::string, Value>> sections;
    std::string section;
    const auto lines = split_lines(text);
    for (size_t n = 0; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        const std::string s = trim(lines[n]);
        if (s.empty() || s[0] == '#' || s[0] == ';') continue;
        if (s[0] == '[') {
            if (s.back() != ']') throw ScalesimInputError(input, line, s, "section header lacks ']'");
            section = lower(trim(s.substr(1, s.size() - 2)));
            if (section.empty()) throw ScalesimInputError(input, line, s, "empty section name");
            if (sections.count(section)) throw ScalesimInputError(input, line, "[" + section + "]", "duplicate section");
            sections[section];
            continue;
        }
        const size_t eq = s.find_first_of("=:");
        if (eq == std::string::npos)
            throw ScalesimInputError(input, line, s, "expected 'key = value' or 'key: value'");
        if (section.empty()) throw ScalesimInputError(input, line, trim(s.substr(0, eq)), "key before any [section]");
        const std::string key = lower(trim(s.substr(0, eq)));
        if (key.empty()) throw ScalesimInputError(input, line, s, "empty key");
        auto& sec = sections[section];
        if (sec.count(key)) throw ScalesimInputError(input, line, "[" + section + "] " + key, "duplicate key");
        sec[key] = {trim(s.substr(eq + 1)), line};
    }

    auto find = [&](const std::string& sec, const std::string& key) -> const Value* {
        auto s = sections.find(sec);
        if (s == sections.end()) return nullptr;
        auto k = s->second.find(lower(key));
        return k == s->second.end() ? nullptr : &k->second;
    };
    auto need = [&](const std::string& sec, const std::string& key) -> const Value& {
        const Value* v = find(sec, key);
        if (!v) throw ScalesimInputError(input, 0, "[" + sec + "] " + key, "missing (SCALE-Sim v2 requires it)");
        return *v;
    };
    auto need_int = [&](const std::string& sec, const std::string& key, int64_t min_value) {
        const Value& v = need(sec, key);
        const int64_t x = parse_int(v.text, input, v.line, key);
        if (x < min_value)
            throw ScalesimInputError(input, v.line, key, "must be at least " + std::to_string(min_value) + ", got " +
                                                             std::to_string(x));
        return x;
    };

    SystolicConfig c;
    c.run_name = need("general", "run_name").text;

    const Value& mode = need("run_presets", "InterfaceBandwidth");
    if (mode.text == "USER")
        c.user_bandwidth = true;
    else if (mode.text == "CALC")
        c.user_bandwidth = false;
    else
        throw ScalesimInputError(input, mode.line, "InterfaceBandwidth", "\"" + mode.text + "\" is neither USER nor CALC");

    const std::string a = "architecture_presets";
    c.array_rows = need_int(a, "ArrayHeight", 1);
    c.array_cols = need_int(a, "ArrayWidth", 1);
    c.ifmap_sram_kb = need_int(a, "IfmapSramSzkB", 1);
    c.filter_sram_kb = need_int(a, "FilterSramSzkB", 1);
    c.ofmap_sram_kb = need_int(a, "OfmapSramSzkB", 1);
    c.ifmap_offset = need_int(a, "IfmapOffset", 0);
    c.filter_offset = need_int(a, "FilterOffset", 0);
    c.ofmap_offset = need_int(a, "OfmapOffset", 0);
    if (c.array_rows > 4096 || c.array_cols > 4096)
        throw ScalesimInputError(input, need(a, "ArrayHeight").line, "ArrayHeight/ArrayWidth", "at most 4096 PEs per side");

    const Value& df = need(a, "Dataflow");
    if (df.text == "os")
        c.dataflow = Dataflow::os;
    else if (df.text == "ws")
        c.dataflow = Dataflow::ws;
    else if (df.text == "is")
        c.dataflow = Dataflow::is;
    else
        throw ScalesimInputError(input, df.line, "Dataflow", "\"" + df.text + "\" is not one of os, ws, is");

    int64_t banks = 1;
    if (const Value* mb = find(a, "MemoryBanks")) {
        banks = parse_int(mb->text, input, mb->line, "MemoryBanks");
        // More banks need SCALE-Sim's memory-map files ([memory_map_files]); not supported here.
        if (banks != 1) throw ScalesimInputError(input, mb->line, "MemoryBanks", "only 1 bank is supported");
    }
    if (c.user_bandwidth) {
        // scale_config.py: "Bandwidth" is a comma list with one entry per memory bank (ISSUE #12).
        const Value& bw = need(a, "Bandwidth");
        std::string item;
        std::vector<std::string> items;
        for (char ch : bw.text + ",") {
            if (ch == ',') {
                items.push_back(item);
                item.clear();
            } else {
                item.push_back(ch);
            }
        }
        for (const auto& it : items) {
            const int64_t x = parse_int(it, input, bw.line, "Bandwidth");
            if (x < 1) throw ScalesimInputError(input, bw.line, "Bandwidth", "must be at least 1 word/cycle");
            c.bandwidths.push_back(x);
        }
        if (static_cast<int64_t>(c.bandwidths.size()) != banks)
            throw ScalesimInputError(input, bw.line, "Bandwidth", "USER mode needs one bandwidth per memory bank (" +
                                                                      std::to_string(banks) + ")");
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// Topologies (topology_utils.py load_arrays_conv / load_arrays_gemm). The first line is the header
// and is skipped whatever it holds; blank lines are skipped; a trailing comma ends each row.
namespace {

std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
        if (c == ',') {
            f.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    f.push_back(cur);
    // SCALE-Sim drops the last field (after the trailing comma); we drop it only when empty, so a
    // row without the trailing comma still reads.
    if (f.size() > 1 && trim(f.back()).empty()) f.pop_back();
    return f;
}

void check_layer(const ConvLayer& l, const std::string& input, int line) {
    // topology_utils.py append_topo_arrays, ISSUE #9.
    if (l.filter_h > l.ifmap_h) throw ScalesimInputError(input, line, "Filter Height", "larger than IFMAP Height");
    if (l.filter_w > l.ifmap_w) throw ScalesimInputError(input, line, "Filter Width", "larger than IFMAP Width");
    const int64_t window = l.filter_h * l.filter_w * l.channels;
    const int64_t px = ofmap_rows(l) * ofmap_cols(l);
    // Keeps every address and product exact in int64 and every percentage operand below 2^53.
    if (window > 100000000 || px > 100000000 || l.num_filters > 100000000 || px * window > 2000000000000LL ||
        px * l.num_filters > 2000000000000LL || window * l.num_filters > 2000000000000LL)
        throw ScalesimInputError(input, line, l.name, "layer too large to simulate");
}

}  // namespace

std::vector<ConvLayer> parse_scalesim_topology(const std::string& text, const std::string& input) {
    static const char* kFields[] = {"Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                    "Channels",   "Num Filter",   "Strides",     "Stride Width"};
    std::vector<ConvLayer> layers;
    const auto lines = split_lines(text);
    for (size_t n = 1; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        if (trim(lines[n]).empty()) continue;
        const auto f = csv_fields(lines[n]);
        if (f.size() < 8 || f.size() > 9)
            throw ScalesimInputError(input, line, "row", "expected 8 fields (Layer name, IFMAP Height, IFMAP Width, "
                                                         "Filter Height, Filter Width, Channels, Num Filter, Strides) "
                                                         "and an optional stride width, found " +
                                                             std::to_string(f.size()));
        ConvLayer l;
        l.name = trim(f[0]);
        if (l.name.empty()) throw ScalesimInputError(input, line, kFields[0], "empty");
        int64_t v[8];
        for (size_t i = 1; i < f.size(); ++i) {
            v[i - 1] = parse_int(f[i], input, line, kFields[i]);
            if (v[i - 1] < 1) throw ScalesimInputError(input, line, kFields[i], "must be at least 1");
        }
        l.ifmap_h = v[0];
        l.ifmap_w = v[1];
        l.filter_h = v[2];
        l.filter_w = v[3];
        l.channels = v[4];
        l.num_filters = v[5];
        l.stride_h = v[6];
        l.stride_w = f.size() == 9 ? v[7] : v[6];  // same stride for columns when only one is given
        check_layer(l, input, line);
        if (l.name.find("DP") != std::string::npos) {
            // Depth-wise: one single-channel layer per channel (topology_utils.py load_arrays_conv).
            const int64_t ch = l.channels;
            if (ch > 100000) throw ScalesimInputError(input, line, "Channels", "too many depth-wise channels");
            for (int64_t c = 0; c < ch; ++c) {
                ConvLayer d = l;
                d.name = l.name + "Channel_" + std::to_string(c);
                d.channels = 1;
                layers.push_back(d);
            }
        } else {
            layers.push_back(l);
        }
    }
    if (layers.empty()) throw ScalesimInputError(input, 0, "rows", "no layers after the header line");
    return layers;
}

std::vector<ConvLayer> parse_scalesim_gemm_topology(const std::string& text, const std::string& input) {
    static const char* kFields[] = {"Layer", "M", "N", "K"};
    std::vector<ConvLayer> layers;
    const auto lines = split_lines(text);
    for (size_t n = 1; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        if (trim(lines[n]).empty()) continue;
        const auto f = csv_fields(lines[n]);
        if (f.size() != 4)
            throw ScalesimInputError(input, line, "row", "expected 4 fields (Layer, M, N, K), found " +
                                                             std::to_string(f.size()));
        int64_t v[3];
        for (int i = 1; i < 4; ++i) {
            v[i - 1] = parse_int(f[i], input, line, kFields[i]);
            if (v[i - 1] < 1) throw ScalesimInputError(input, line, kFields[i], "must be at least 1");
        }
        ConvLayer l;
        l.name = trim(f[0]);
        if (l.name.empty()) throw ScalesimInputError(input, line, kFields[0], "empty");
        // topology_utils.py load_arrays_gemm: [M, K, 1, K, 1, N, 1, 1] = ifmap M x K, filter 1 x K,
        // 1 channel, N filters, stride 1, so the ofmap is M x 1 pixels and the window is K.
        l.ifmap_h = v[0];
        l.ifmap_w = v[2];
        l.filter_h = 1;
        l.filter_w = v[2];
        l.channels = 1;
        l.num_filters = v[1];
        check_layer(l, input, line);
        layers.push_back(l);
    }
    if (layers.empty()) throw ScalesimInputError(input, 0, "rows", "no layers after the header line");
    return layers;
}

int64_t ofmap_rows(const ConvLayer& l) { return ceil_div(l.ifmap_h - l.filter_h + l.stride_h, l.stride_h); }
int64_t ofmap_cols(const ConvLayer& l) { return ceil_div(l.ifmap_w - l.filter_w + l.stride_w, l.stride_w); }

// ---------------------------------------------------------------------------------------------
// Simulation.
namespace {

constexpr int64_t kNull = -1;  // SCALE-Sim's "no request" entry

// Operand address matrices, compute/operand_matrix.py (rev 1f53104).
struct Operands {
    int64_t ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h, stride_w;
    int64_t out_w;   // ofmap columns (Ew)
    int64_t px;      // ofmap pixels per filter
    int64_t window;  // filter_h * filter_w * channels
    int64_t ifmap_offset, filter_offset, ofmap_offset;

    // Row i = ofmap pixel, column j = position in the convolution window (row, col, channel).
    int64_t ifmap(int64_t i, int64_t j) const {
        const int64_t i_row = (i / out_w) * stride_h, i_col = (i % out_w) * stride_w;
        const int64_t c_row = j / (filter_w * channels), k = j % (filter_w * channels);
        const int64_t c_col = k / channels, c_ch = k % channels;
        if (c_row + i_row >= ifmap_h || c_col + i_col >= ifmap_w) return kNull;  // window past the edge
        return (i_row + c_row) * ifmap_w * channels + (i_col + c_col) * channels + c_ch + ifmap_offset;
    }
    int64_t filter(int64_t i, int64_t j) const { return j * window + i + filter_offset; }
    int64_t ofmap(int64_t i, int64_t j) const { return num_filters * i + j + ofmap_offset; }
};

// One fold of the array: which operand slice it holds and how its demand rows look, per dataflow
// (compute/systolic_compute_{ws,os,is}.py). Element functions return the address requested at
// demand row r, array column/row c of the fold, with fill/drain gaps and skew applied.
struct Fold {
    Dataflow df;
    const Operands* op;
    int64_t R, C, T;  // array rows, array cols, temporal extent
    int64_t r0, c0;   // first spatial row / column of the operand mapped to this fold
    int64_t ru, cu;   // rows / columns of the array used
    int64_t rows;     // demand rows of the fold

    int ifmap_width() const { return static_cast<int>(df == Dataflow::is ? C : R); }
    int filter_width() const { return static_cast<int>(df == Dataflow::is ? R : C); }
    int ofmap_width() const { return static_cast<int>(C); }

    int64_t ifmap_at(int64_t r, int64_t c) const {
        switch (df) {
            case Dataflow::ws: {  // R null rows (weights load), T rows of ifmap, C-1 null rows; skewed
                const int64_t b = r - c - R;
                if (b < 0 || b >= T || c >= ru) return kNull;
                return op->ifmap(b, r0 + c);
            }
            case Dataflow::os: {  // transposed ifmap slice, C-1 null rows; skewed
                const int64_t b = r - c;
                if (b < 0 || b >= T || c >= ru) return kNull;
                return op->ifmap(r0 + c, b);
            }
            case Dataflow::is: {  // slice flipped upside down, then R+C+T-2 null rows; no skew
                if (r >= R) return kNull;
                const int64_t q = R - 1 - r;
                if (q >= ru || c >= cu) return kNull;
                return op->ifmap(c0 + c, r0 + q);
            }
        }
        return kNull;
    }
    int64_t filter_at(int64_t r, int64_t c) const {
        switch (df) {
            case Dataflow::ws: {  // slice flipped upside down, then R+C+T-2 null rows; no skew
                if (r >= R) return kNull;
                const int64_t q = R - 1 - r;
                if (q >= ru || c >= cu) return kNull;
                return op->filter(r0 + q, c0 + c);
            }
            case Dataflow::os: {  // filter slice, R-1 null rows; skewed
                const int64_t b = r - c;
                if (b < 0 || b >= T || c >= cu) return kNull;
                return op->filter(b, c0 + c);
            }
            case Dataflow::is: {  // R null rows, transposed filter slice, C-1 null rows; skewed
                const int64_t b = r - c - R;
                if (b < 0 || b >= T || c >= ru) return kNull;
                return op->filter(r0 + c, b);
            }
        }
        return kNull;
    }
    int64_t ofmap_at(int64_t r, int64_t c) const {
        switch (df) {
            case Dataflow::ws: {  // 2R-1 null rows, T rows of outputs; skewed
                const int64_t b = r - c - (2 * R - 1);
                if (b < 0 || b >= T || c >= cu) return kNull;
                return op->ofmap(b, c0 + c);
            }
            case Dataflow::os: {  // T-1 null rows, the R x C outputs flipped upside down; skewed
                const int64_t q = r - c - (T - 1);
                if (q < 0 || q >= R) return kNull;
                const int64_t p = R - 1 - q;
                if (p >= ru || c >= cu) return kNull;
                return op->ofmap(r0 + p, c0 + c);
            }
            case Dataflow::is: {  // 2R-1 null rows, transposed outputs; skewed
                const int64_t b = r - c - (2 * R - 1);
                if (b < 0 || b >= T || c >= cu) return kNull;
                return op->ofmap(c0 + c, b);
            }
        }
        return kNull;
    }
};

// The order in which a read buffer's fetch matrix lists the operand: the valid addresses (null
// entries dropped, as prepare_hashed_buffer drops them) and the entry count including nulls.
struct FetchOrder {
    std::vector<int64_t> addrs;
    int64_t num_elems = 0;
};

// A prefetch matrix is M x N, built by stacking folds. Skewed operands are read out along
// anti-diagonals ("Fixing ISSUE #15, #16" in the compute files), the others row by row.
template <typename Elem>
FetchOrder make_fetch_order(int64_t M, int64_t N, bool diagonal, Elem elem) {
    FetchOrder f;
    f.num_elems = M * N;
    f.addrs.reserve(static_cast<size_t>(M * N));
    if (!diagonal) {
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j)
                if (int64_t a = elem(i, j); a != kNull) f.addrs.push_back(a);
        return f;
    }
    for (int64_t d = 0; d < M + N - 1; ++d) {
        const int64_t hi = std::min(d, M - 1), lo = std::max<int64_t>(0, d - N + 1);
        for (int64_t i = hi; i >= lo; --i)
            if (int64_t a = elem(i, d - i); a != kNull) f.addrs.push_back(a);
    }
    return f;
}

// USER-mode double-buffered read SRAM, memory/read_buffer.py rev 48f6938 (SCALE-Sim v2).
// The fetch order is cut into "lines" of ceil(size/100) valid addresses; an active window of lines
// serves hits; a miss rotates the window by the prefetch lines and issues one prefetch of
// ceil(prefetch size / bandwidth) DRAM lines, back to back after the previous one (read port
// latency 1). A row is served at the completion cycle of the last prefetch it waited for, else
// after the hit latency (1).
class ReadBuffer {
public:
    ReadBuffer(int64_t size_bytes, int64_t bandwidth, const FetchOrder& order) : bw_(bandwidth) {
        const int64_t total = size_bytes;  // word size 1
        active_size_ = ceil_div(total, 2);  // active_buf_frac 0.5 (single_layer_sim.py)
        prefetch_size_ = total - active_size_;
        const int64_t per_line = ceil_div(total, 100);
        fetch_rows_ = ceil_div(order.num_elems, bw_);

        // prepare_hashed_buffer: a new line starts after every per_line valid entries; the last
        // (possibly empty) line counts too.
        const int64_t valid = static_cast<int64_t>(order.addrs.size());
        num_lines_ = valid / per_line + 1;
        std::vector<std::pair<int64_t, int64_t>> pairs;
        pairs.reserve(order.addrs.size());
        for (int64_t i = 0; i < valid; ++i) pairs.emplace_back(order.addrs[static_cast<size_t>(i)], i / per_line);
        std::sort(pairs.begin(), pairs.end());
        for (size_t i = 0; i < pairs.size(); ++i) {
            const bool new_key = i == 0 || pairs[i].first != pairs[i - 1].first;
            if (new_key) {
                keys_.push_back(pairs[i].first);
                starts_.push_back(line_ids_.size());
            }
            if (new_key || pairs[i].second != pairs[i - 1].second) line_ids_.push_back(pairs[i].second);
        }
        starts_.push_back(line_ids_.size());
        // Operand addresses are dense (offset + [0, size)): index them directly when the range is
        // not much larger than the number of distinct addresses; binary search otherwise.
        if (!keys_.empty()) {
            key_min_ = keys_.front();
            const int64_t range = keys_.back() - key_min_ + 1;
            if (range <= std::max<int64_t>(4 * static_cast<int64_t>(keys_.size()), 1 << 20)) {
                dense_.assign(static_cast<size_t>(range), -1);
                for (size_t i = 0; i < keys_.size(); ++i) dense_[static_cast<size_t>(keys_[i] - key_min_)] = static_cast<int64_t>(i);
            }
        }

        const int64_t max_active = ceil_div(active_size_, per_line), max_prefetch = ceil_div(prefetch_size_, per_line);
        active_lines_ = std::min(num_lines_, max_active);
        prefetch_lines_ = std::min(num_lines_ - active_lines_, max_prefetch);
    }

    int64_t dram_reads() const { return dram_reads_; }

    // Returns the cycle at which the row is served.
    int64_t service_row(const int64_t* row, int width, int64_t cycle) {
        if (!started_) prefetch_active_buffer(cycle);
        int64_t out = cycle + 1;  // hit latency
        for (int i = 0; i < width; ++i) {
            const int64_t a = row[i];
            if (a == kNull) continue;
            int64_t rotations = 0;
            while (!hit(a)) {
                if (++rotations > num_lines_ + 1)
                    throw std::logic_error("systolic model: address " + std::to_string(a) + " never fetched");
                new_prefetch();
                // read_buffer.py: offset += last_prefetch - (cycle + offset), i.e. the row is served
                // when this prefetch lands, even if that is earlier than cycle + hit latency.
                out = last_prefetch_;
            }
        }
        return out;
    }

private:
    void prefetch_active_buffer(int64_t start_cycle) {
        started_ = true;
        const int64_t lines = std::min(ceil_div(active_size_, bw_), fetch_rows_);
        dram_reads_ += lines * bw_;
        // Requests at start - lines + i - latency, served one latency later: the last lands at
        // start_cycle - 1, just before the first demand.
        last_prefetch_ = start_cycle - 1;
        active_start_ = 0;
        active_end_ = active_lines_;
    }

    void new_prefetch() {
        active_start_ = (active_start_ + prefetch_lines_) % num_lines_;
        active_end_ = (active_start_ + active_lines_) % num_lines_;
        const int64_t lines = ceil_div(prefetch_size_, bw_);
        dram_reads_ += lines * bw_;
        // Requests at last + 1 + i, served at last + 2 + i.
        last_prefetch_ += lines + 1;
    }

    bool hit(int64_t a) const {
        size_t slot = 0;
        if (!dense_.empty()) {
            const int64_t d = a - key_min_;
            if (d < 0 || d >= static_cast<int64_t>(dense_.size()) || dense_[static_cast<size_t>(d)] < 0) return false;
            slot = static_cast<size_t>(dense_[static_cast<size_t>(d)]);
        } else {
            auto k = std::lower_bound(keys_.begin(), keys_.end(), a);
            if (k == keys_.end() || *k != a) return false;
            slot = static_cast<size_t>(k - keys_.begin());
        }
        auto b = line_ids_.begin() + static_cast<std::ptrdiff_t>(starts_[slot]);
        auto e = line_ids_.begin() + static_cast<std::ptrdiff_t>(starts_[slot + 1]);
        if (active_start_ < active_end_) {
            auto it = std::lower_bound(b, e, active_start_);
            return it != e && *it < active_end_;
        }
        // Window wraps around (or covers every line when start == end).
        return std::lower_bound(b, e, active_start_) != e || *b < active_end_;
    }

    int64_t bw_;
    int64_t active_size_ = 0, prefetch_size_ = 0, fetch_rows_ = 0;
    int64_t num_lines_ = 1, active_lines_ = 1, prefetch_lines_ = 0;
    int64_t active_start_ = 0, active_end_ = 0;
    int64_t last_prefetch_ = -1;
    int64_t dram_reads_ = 0;
    bool started_ = false;
    // Address -> sorted line ids holding it (compressed rows).
    std::vector<int64_t> keys_;
    std::vector<size_t> starts_;
    std::vector<int64_t> line_ids_;
    int64_t key_min_ = 0;
    std::vector<int64_t> dense_;  // address - key_min_ -> slot in keys_, or -1
};

// CALC-mode read SRAM, memory/read_buffer_estimate_bw.py: never stalls (every request is a hit
// after the hit latency); it groups the addresses it sees into sets of floor(size/100) new
// addresses and counts a DRAM read for each address of every set it "prefetches": 50 sets first,
// then 50 sets each time the array has consumed a prefetch buffer's worth, the rest at the end.
class EstimateReadBuffer {
public:
    explicit EstimateReadBuffer(int64_t size_bytes) {
        items_per_set_ = size_bytes / 100;
        read_end_ = kActiveSets - 1;
    }
    int64_t dram_reads() const { return dram_reads_; }

    void service_row(const int64_t* row, int width, int64_t cycle) {
        for (int i = 0; i < width; ++i)
            if (row[i] != kNull) manage(cycle, row[i]);
    }

    void complete_all_prefetches() {
        if (!current_.empty()) {
            close_set(/*advance_id=*/false);
        } else {
            --current_id_;
        }
        if (!active_done_) {
            prefetch(0, current_id_);
        } else {
            if (last_end_ - last_start_ + 1 <= 0)
                throw std::invalid_argument("SCALE-Sim's CALC bandwidth estimate divides by zero for this layer");
            prefetch(prefetch_start_, current_id_);
        }
    }

private:
    static constexpr int64_t kActiveSets = 50;    // int(0.5 * 100)
    static constexpr int64_t kPrefetchSets = 50;  // 100 - 50

    bool hit(int64_t a) const {
        const int64_t s = read_start_, e = std::min(current_id_, read_end_ + 1);
        if (s >= e) return false;
        auto it = sets_of_.find(a);
        if (it == sets_of_.end()) return false;
        auto p = std::lower_bound(it->second.begin(), it->second.end(), s);
        return p != it->second.end() && *p < e;
    }

    void close_set(bool advance_id) {
        for (int64_t a : current_order_) sets_of_[a].push_back(current_id_);
        set_sizes_.push_back(static_cast<int64_t>(current_order_.size()));
        current_.clear();
        current_order_.clear();
        elems_current_ = 0;
        if (advance_id) ++current_id_;
    }

    void manage(int64_t cycle, int64_t a) {
        if (hit(a)) return;
        if (current_.count(a)) return;
        current_.insert(a);
        current_order_.push_back(a);
        if (++elems_current_ != items_per_set_) return;
        close_set(/*advance_id=*/true);
        if (current_id_ != read_end_ + 1) return;
        if (!active_done_) {
            prefetch(0, kActiveSets - 1);
            prefetch_start_ = read_end_ + 1;
            active_done_ = true;
            // The cycle bookkeeping only matters for the division below.
            last_end_ = -2;
            last_start_ = -2;
        } else {
            if (last_end_ - last_start_ + 1 <= 0)
                throw std::invalid_argument("SCALE-Sim's CALC bandwidth estimate divides by zero for this layer");
            prefetch(prefetch_start_, prefetch_start_ + kPrefetchSets - 1);
            prefetch_start_ += kPrefetchSets;
        }
        read_start_ += kPrefetchSets;
        read_end_ += kPrefetchSets;
        last_start_ = last_end_ + 1;
        last_end_ = cycle;
    }

    void prefetch(int64_t first_set, int64_t last_set) {
        for (int64_t s = first_set; s <= last_set && s < static_cast<int64_t>(set_sizes_.size()); ++s)
            dram_reads_ += set_sizes_[static_cast<size_t>(s)];
    }

    int64_t items_per_set_ = 1;
    int64_t current_id_ = 0, elems_current_ = 0;
    int64_t read_start_ = 0, read_end_ = 0, prefetch_start_ = 0;
    int64_t last_start_ = -2, last_end_ = -1;
    bool active_done_ = false;
    int64_t dram_reads_ = 0;
    std::unordered_set<int64_t> current_;
    std::vector<int64_t> current_order_;
    std::vector<int64_t> set_sizes_;
    std::unordered_map<int64_t, std::vector<int64_t>> sets_of_;
};

// Ofmap write SRAM, memory/write_buffer.py rev 51074ed: outputs are packed into DRAM lines of
// `bandwidth` words; when more than the active half is occupied and no drain is running, the
// buffered lines (the partial one included) drain at one line per cycle (write port latency 0).
// A row stalls only when the buffer is completely full while a drain is still running.
class WriteBuffer {
public:
    WriteBuffer(int64_t size_bytes, int64_t bandwidth) : bw_(bandwidth) {
        total_ = size_bytes;
        active_size_ = ceil_div(total_, 2);
        drain_size_ = total_ - active_size_;
        free_ = total_;
    }
    int64_t dram_writes() const { return dram_writes_; }

    int64_t service_row(const int64_t* row, int width, int64_t cycle) {
        int64_t current = cycle;
        for (int i = 0; i < width; ++i) {
            if (row[i] == kNull) continue;
            store();
            if (current < drain_end_) {
                if (free_ <= 0) current = drain_end_;
            } else if (free_ < active_size_) {
                close_partial_line();
                drain_end_ = drain(current);
            }
        }
        return current;
    }

    void empty_all_buffers(int64_t cycle) {
        close_partial_line();
        while (drain_start_ < static_cast<int64_t>(lines_.size())) {
            drain_end_ = drain(cycle);
            cycle = drain_end_ + 1;
        }
    }

private:
    void store() {
        --free_;
        if (++line_fill_ == bw_) {
            lines_.push_back(bw_);
            line_fill_ = 0;
        }
    }
    void close_partial_line() {
        if (line_fill_ != 0) lines_.push_back(line_fill_);
        line_fill_ = 0;
    }
    // empty_drain_buf: returns the cycle of the last line written.
    int64_t drain(int64_t start) {
        const int64_t end = std::min<int64_t>(drain_start_ + ceil_div(drain_size_, bw_), static_cast<int64_t>(lines_.size()));
        const int64_t n = end - drain_start_;
        if (n <= 0) throw std::logic_error("systolic model: empty ofmap drain");
        // Every drained line counts as full except the padding of the drain's last line.
        const int64_t data = n * bw_ - (bw_ - lines_[static_cast<size_t>(end - 1)]);
        dram_writes_ += data;
        free_ += data;
        drain_start_ = end;
        return start + n - 1;
    }

    int64_t bw_;
    int64_t total_ = 0, active_size_ = 0, drain_size_ = 0, free_ = 0;
    std::vector<int64_t> lines_;  // valid words per line, in order
    int64_t line_fill_ = 0;
    int64_t drain_start_ = 0;
    int64_t drain_end_ = 0;
    int64_t dram_writes_ = 0;
};

}  // namespace

LayerReport simulate_scalesim_layer(const SystolicConfig& cfg, const ConvLayer& l, int layer_id) {
    if (cfg.array_rows < 1 || cfg.array_cols < 1) throw std::invalid_argument("systolic config: array size must be >= 1");
    if (cfg.ifmap_sram_kb < 1 || cfg.filter_sram_kb < 1 || cfg.ofmap_sram_kb < 1)
        throw std::invalid_argument("systolic config: SRAM sizes must be >= 1 kB");
    if (cfg.user_bandwidth && (cfg.bandwidths.empty() || cfg.bandwidths[0] < 1))
        throw std::invalid_argument("systolic config: USER bandwidth mode needs Bandwidth >= 1");
    if (l.ifmap_h < 1 || l.ifmap_w < 1 || l.filter_h < 1 || l.filter_w < 1 || l.channels < 1 || l.num_filters < 1 ||
        l.stride_h < 1 || l.stride_w < 1 || l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w)
        throw std::invalid_argument("systolic layer " + l.name + ": dimensions must be >= 1 and the filter within the ifmap");

    Operands op{};
    op.ifmap_h = l.ifmap_h;
    op.ifmap_w = l.ifmap_w;
    op.filter_h = l.filter_h;
    op.filter_w = l.filter_w;
    op.channels = l.channels;
    op.num_filters = l.num_filters;
    op.stride_h = l.stride_h;
    op.stride_w = l.stride_w;
    op.out_w = ofmap_cols(l);
    op.px = ofmap_rows(l) * op.out_w;
    op.window = l.filter_h * l.filter_w * l.channels;
    op.ifmap_offset = cfg.ifmap_offset;
    op.filter_offset = cfg.filter_offset;
    op.ofmap_offset = cfg.ofmap_offset;

    const int64_t R = cfg.array_rows, C = cfg.array_cols;
    const Dataflow df = cfg.dataflow;
    // Spatial rows (Sr), spatial columns (Sc), temporal extent (T) per dataflow.
    int64_t Sr = 0, Sc = 0, T = 0;
    switch (df) {
        case Dataflow::os: Sr = op.px, Sc = op.num_filters, T = op.window; break;
        case Dataflow::ws: Sr = op.window, Sc = op.num_filters, T = op.px; break;
        case Dataflow::is: Sr = op.window, Sc = op.px, T = op.num_filters; break;
    }
    const int64_t row_fold = ceil_div(Sr, R), col_fold = ceil_div(Sc, C);
    auto used_rows = [&](int64_t fr) { return std::min(R, Sr - fr * R); };
    auto used_cols = [&](int64_t fc) { return std::min(C, Sc - fc * C); };

    // Prefetch matrices (the compute files' create_*_prefetch_mat), needed in USER mode only.
    const int64_t ifmap_bytes = cfg.ifmap_sram_kb * 1024, filter_bytes = cfg.filter_sram_kb * 1024;
    const int64_t ofmap_bytes = cfg.ofmap_sram_kb * 1024;
    std::unique_ptr<ReadBuffer> ifmap_buf, filter_buf;
    std::unique_ptr<EstimateReadBuffer> ifmap_est, filter_est;
    if (cfg.user_bandwidth) {
        const int64_t bw = cfg.bandwidths[0];
        FetchOrder fi, ff;
        switch (df) {
            case Dataflow::ws:
                fi = make_fetch_order(row_fold * T, R, true, [&](int64_t i, int64_t j) {
                    const int64_t fr = i / T;
                    return j < used_rows(fr) ? op.ifmap(i % T, fr * R + j) : kNull;
                });
                ff = make_fetch_order(col_fold * op.window, C, false, [&](int64_t i, int64_t j) {
                    const int64_t fc = i / op.window;
                    return j < used_cols(fc) ? op.filter(i % op.window, fc * C + j) : kNull;
                });
                break;
            case Dataflow::os:
                fi = make_fetch_order(row_fold * T, R, true, [&](int64_t i, int64_t j) {
                    const int64_t fr = i / T;
                    return j < used_rows(fr) ? op.ifmap(fr * R + j, i % T) : kNull;
                });
                ff = make_fetch_order(col_fold * T, C, true, [&](int64_t i, int64_t j) {
                    const int64_t fc = i / T;
                    return j < used_cols(fc) ? op.filter(i % T, fc * C + j) : kNull;
                });
                break;
            case Dataflow::is:
                fi = make_fetch_order(col_fold * op.window, C, false, [&](int64_t i, int64_t j) {
                    const int64_t fc = i / op.window;
                    return j < used_cols(fc) ? op.ifmap(fc * C + j, i % op.window) : kNull;
                });
                ff = make_fetch_order(row_fold * T, R, true, [&](int64_t i, int64_t j) {
                    const int64_t fr = i / T;
                    return j < used_rows(fr) ? op.filter(fr * R + j, i % T) : kNull;
                });
                break;
        }
        ifmap_buf = std::make_unique<ReadBuffer>(ifmap_bytes, bw, fi);
        filter_buf = std::make_unique<ReadBuffer>(filter_bytes, bw, ff);
    } else {
        ifmap_est = std::make_unique<EstimateReadBuffer>(ifmap_bytes);
        filter_est = std::make_unique<EstimateReadBuffer>(filter_bytes);
    }
    // single_layer_sim.py: ofmap drains at Bandwidth (USER) or ArrayWidth words/cycle (CALC).
    WriteBuffer ofmap_buf(ofmap_bytes, cfg.user_bandwidth ? cfg.bandwidths[0] : C);

    LayerReport rep;
    rep.layer_id = layer_id;
    rep.layer = l.name;
    rep.folds = row_fold * col_fold;
    double mapping_sum = 0, util_sum = 0;

    std::vector<int64_t> irow, frow, orow;
    int64_t row_index = 0, stalls = 0, last_ofmap_cycle = 0;
    for (int64_t fc = 0; fc < col_fold; ++fc) {
        for (int64_t fr = 0; fr < row_fold; ++fr) {
            Fold f{df, &op, R, C, T, fr * R, fc * C, used_rows(fr), used_cols(fc), 0};
            int64_t fold_cycles = 0;
            switch (df) {
                case Dataflow::ws:
                    f.rows = 2 * R + T + C - 2;
                    fold_cycles = f.rows + C - 1;
                    rep.sram_ifmap_reads += T * f.ru;
                    rep.sram_filter_reads += f.ru * f.cu;
                    rep.sram_ofmap_writes += T * f.cu;
                    break;
                case Dataflow::os:
                    f.rows = T + R + C - 2;
                    fold_cycles = f.rows;
                    rep.sram_ifmap_reads += T * f.ru;
                    rep.sram_filter_reads += T * f.cu;
                    // systolic_compute_os.py counts the fold's outputs and then, after flipping the
                    // padded R x C block, adds its height + width again; kept for parity.
                    rep.sram_ofmap_writes += f.ru * f.cu + R + C;
                    break;
                case Dataflow::is:
                    f.rows = 2 * R + C + T - 2;
                    fold_cycles = f.rows + C - 1;
                    rep.sram_ifmap_reads += f.ru * f.cu;
                    rep.sram_filter_reads += T * f.ru;
                    rep.sram_ofmap_writes += T * f.cu;
                    break;
            }
            const int64_t mac_used = f.ru * f.cu;
            mapping_sum += static_cast<double>(mac_used) / static_cast<double>(R * C);
            util_sum += static_cast<double>(mac_used * T) / static_cast<double>(R * C * fold_cycles);

            const int iw = f.ifmap_width(), fw = f.filter_width(), ow = f.ofmap_width();
            irow.resize(static_cast<size_t>(iw));
            frow.resize(static_cast<size_t>(fw));
            orow.resize(static_cast<size_t>(ow));
            for (int64_t r = 0; r < f.rows; ++r, ++row_index) {
                for (int c = 0; c < iw; ++c) irow[static_cast<size_t>(c)] = f.ifmap_at(r, c);
                for (int c = 0; c < fw; ++c) frow[static_cast<size_t>(c)] = f.filter_at(r, c);
                for (int c = 0; c < ow; ++c) orow[static_cast<size_t>(c)] = f.ofmap_at(r, c);
                // double_buffered_scratchpad_mem.py service_memory_requests: one demand row per
                // cycle, shifted by the stalls so far; the row's stall is the worst of the three.
                const int64_t cycle = row_index + stalls;
                int64_t ifmap_stall = 0, filter_stall = 0;
                if (ifmap_buf) {
                    ifmap_stall = ifmap_buf->service_row(irow.data(), iw, cycle) - cycle - 1;
                    filter_stall = filter_buf->service_row(frow.data(), fw, cycle) - cycle - 1;
                } else {
                    ifmap_est->service_row(irow.data(), iw, cycle);
                    filter_est->service_row(frow.data(), fw, cycle);
                }
                last_ofmap_cycle = ofmap_buf.service_row(orow.data(), ow, cycle);
                stalls += std::max({ifmap_stall, filter_stall, last_ofmap_cycle - cycle});
            }
        }
    }
    if (ifmap_est) {
        ifmap_est->complete_all_prefetches();
        filter_est->complete_all_prefetches();
    }
    ofmap_buf.empty_all_buffers(last_ofmap_cycle);

    rep.total_cycles = last_ofmap_cycle;
    rep.stall_cycles = stalls;
    rep.macs = op.px * op.num_filters * op.window;
    const int64_t pes = R * C;
    rep.overall_util_pct =
        rep.total_cycles > 0 ? static_cast<double>(rep.macs * 100) / static_cast<double>(rep.total_cycles * pes) : 0.0;
    const double nf = static_cast<double>(rep.folds);
    rep.mapping_eff_pct = mapping_sum / nf * 100;
    rep.compute_util_pct = util_sum / nf * 100;
    rep.dram_ifmap_reads = ifmap_buf ? ifmap_buf->dram_reads() : ifmap_est->dram_reads();
    rep.dram_filter_reads = filter_buf ? filter_buf->dram_reads() : filter_est->dram_reads();
    rep.dram_ofmap_writes = ofmap_buf.dram_writes();
    return rep;
}

std::vector<LayerReport> simulate_scalesim(const SystolicConfig& cfg, const std::vector<ConvLayer>& layers) {
    std::vector<LayerReport> out;
    out.reserve(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) out.push_back(simulate_scalesim_layer(cfg, layers[i], static_cast<int>(i)));
    return out;
}

}  // namespace stacklab::chip
