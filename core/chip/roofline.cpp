#include "chip/roofline.hpp"

#include <algorithm>
#include <stdexcept>

namespace stacklab::chip {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::int8: return "int8";
        case DType::fp16: return "fp16";
        case DType::bf16: return "bf16";
    }
    return "?";
}

DType parse_dtype(const std::string& name) {
    for (DType t : {DType::int8, DType::fp16, DType::bf16})
        if (name == dtype_name(t)) return t;
    throw std::invalid_argument("dtype \"" + name + "\" is not one of int8, fp16, bf16");
}

int dtype_bytes(DType t) { return t == DType::int8 ? 1 : 2; }

const char* pick_name(Pick p) {
    switch (p) {
        case Pick::nominal: return "nominal";
        case Pick::low: return "low";
        case Pick::high: return "high";
    }
    return "?";
}

Pick parse_pick(const std::string& name) {
    for (Pick p : {Pick::nominal, Pick::low, Pick::high})
        if (name == pick_name(p)) return p;
    throw std::invalid_argument("pick \"" + name + "\" is not one of nominal, low, high");
}

const char* bound_name(Bound b) { return b == Bound::compute ? "compute" : "memory"; }

namespace {

double figure_value(const ChipSpec& chip, const char* key, Pick pick) {
    const Figure& f = chip.figure(key);
    if (!f.known() || !std::holds_alternative<double>(*f.value))
        throw std::invalid_argument(chip.id + ": the catalog has no value for " + key +
                                    (f.reason.empty() ? "" : " (" + f.reason + ")"));
    const auto [lo, hi] = f.range();
    return pick == Pick::low ? lo : pick == Pick::high ? hi : f.number();
}

}  // namespace

const char* peak_figure_key(DType t) {
    switch (t) {
        case DType::int8: return "int8_tops";
        case DType::fp16: return "fp16_tflops";
        case DType::bf16: return "bf16_tflops";
    }
    return "";
}

ChipPeak chip_peak(const ChipSpec& chip, DType dtype, Pick pick) {
    ChipPeak p;
    p.chip_id = chip.id;
    p.dtype = dtype;
    p.ops_per_s = figure_value(chip, peak_figure_key(dtype), pick) * 1e12;  // TOPS and TFLOPS
    p.mem_bytes_per_s = figure_value(chip, "memory_bandwidth_gbps", pick) * 1e9;
    const Figure& mem = chip.figure("memory_gb");
    // Vendors state capacity in GB meaning 2^30 bytes for HBM stacks (an "80 GB" H100 has
    // 80 GiB); we follow that reading so "fits in memory" is not optimistic by 7%.
    p.memory_bytes = mem.known() ? mem.number() * double(1ull << 30) : 0.0;
    if (!(p.ops_per_s > 0) || !(p.mem_bytes_per_s > 0))
        throw std::invalid_argument(chip.id + ": peak and bandwidth must be positive");
    return p;
}

RooflineRow roofline(const ChipPeak& peak, const OpWork& work) {
    if (!(work.ops >= 0) || !(work.bytes >= 0))
        throw std::invalid_argument("roofline: " + work.name + ": ops and bytes must be >= 0");
    RooflineRow r;
    r.work = work;
    r.compute_s = work.ops / peak.ops_per_s;
    r.memory_s = work.bytes / peak.mem_bytes_per_s;
    r.time_s = std::max(r.compute_s, r.memory_s);
    r.bound = r.compute_s >= r.memory_s ? Bound::compute : Bound::memory;
    r.intensity = work.bytes > 0 ? work.ops / work.bytes : 0.0;
    r.attainable_ops_per_s = work.bytes > 0 ? std::min(peak.ops_per_s, r.intensity * peak.mem_bytes_per_s)
                                            : peak.ops_per_s;
    r.utilization = r.time_s > 0 ? (work.ops / r.time_s) / peak.ops_per_s : 0.0;
    return r;
}

OpWork gemm_work(double M, double N, double K, DType dtype, int out_bytes) {
    if (!(M >= 1) || !(N >= 1) || !(K >= 1))
        throw std::invalid_argument("gemm: M, N and K must be >= 1");
    if (out_bytes <= 0) throw std::invalid_argument("gemm: out_bytes must be > 0");
    OpWork w;
    w.op = "MatMul";
    w.ops = 2.0 * M * N * K;
    w.bytes = (M * K + K * N) * dtype_bytes(dtype) + M * N * out_bytes;
    return w;
}

}  // namespace stacklab::chip
