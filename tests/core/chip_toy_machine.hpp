// The chip tests' hand-checkable machine, shared by tests/core/chip_tile_sim_test.cpp (which
// derives its expected cycles from it), chip_tile_llm_test.cpp and chip_graph_sim_test.cpp (which
// grows it: more cores, a smaller L2, a faster off-chip link).
#pragma once

#include "chip/tile_sim.hpp"

namespace stacklab::test {

// A machine small enough to follow by hand: 1 GHz, so a cycle is a nanosecond; off-chip 64 B/ns.
inline chip::Machine toy(int cores = 1) {
    using chip::DType;
    chip::Machine m;
    m.chip_id = "toy";
    m.matrix_cores = cores;
    m.vector_cores = cores;
    m.clock_hz = 1e9;
    m.shape[int(DType::fp16)] = {16, 16, 16};
    m.shape[int(DType::int8)] = {16, 32, 16};
    m.vector_bytes_per_cycle = 64;
    m.l0a_bytes = m.l0b_bytes = 64 * 1024;
    m.l0c_bytes = 128 * 1024;
    m.l1_bytes = 512 * 1024;
    m.ub_bytes = 192 * 1024;
    m.l2_bytes = 64 << 20;
    m.offchip_bytes_per_s = 64e9;
    m.l2_bytes_per_s = 1e12;
    m.core_dma_bytes_per_cycle = 1000;
    m.mac_pj[int(DType::fp16)] = 1;
    m.mac_pj[int(DType::int8)] = 0.25;
    m.vector_byte_pj = 0.5;
    m.l0_byte_pj = 2;
    m.l1_byte_pj = 3;
    m.ub_byte_pj = 4;
    m.l2_byte_pj = 5;
    m.offchip_byte_pj = 10;
    return m;
}

}  // namespace stacklab::test
