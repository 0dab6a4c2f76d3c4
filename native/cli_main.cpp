// `stacklab`: the command-line shell over the core (see native/cli.hpp). This file parses the
// arguments and dispatches to the commands, which live in one cli_<capability>.cpp each.
#include <iostream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "native/cli.hpp"

using nlohmann::json;
using namespace stacklab::cli;

namespace {

const char* kUsage =
    "usage: stacklab <command> [options] [--json]\n"
    "\n"
    "chip emulator:\n"
    "  chips [--chips DIR]              list the chip catalog (bundled, or the *.json files in DIR)\n"
    "  chips show ID [--chips DIR]      one chip with every figure and its source\n"
    "  chips validate FILE...           check chip files against the catalog format\n"
    "  simulate --chip ID --gemm M,N,K [--dtype int8|fp16|bf16] [--fidelity roofline|tile] [--pick nominal|low|high]\n"
    "      [--tile MxNxK] [--timeline]\n"
    "                                   one GEMM on a chip: roofline (time, bound, intensity, ridge point)\n"
    "                                   or tile-level simulation (cycles, bytes per level, energy, utilization;\n"
    "                                   --tile overrides the tiling, --timeline adds per-core events to --json)\n"
    "  simulate --chip ID --model FILE.onnx [--fidelity roofline|tile] [--batch N] [--pick nominal|low|high]\n"
    "      [--data fashion-mnist|DIR [--limit K]] [--numerics chip|fp32] [--no-fuse] [--timeline]\n"
    "                                   a whole ONNX model on a chip: every node lowered (int8 or the chip's\n"
    "                                   float type, fused post-ops), per-op and total cycles, time, bytes per\n"
    "                                   level, energy; and the graph run with the real kernels (float matrix\n"
    "                                   nodes in the chip's fp16/bf16 unless --numerics fp32): accuracy on the\n"
    "                                   first K test images with --data, else the digest of a synthetic run;\n"
    "                                   --timeline (tile fidelity) adds every node's per-core events to --json\n"
    "  simulate --scalesim-topology FILE.csv --scalesim-config FILE.cfg [--gemm-topology]\n"
    "                                   SCALE-Sim v2 compatible systolic-array cycles per layer\n"
    "  llm --chip ID --llm ID [--quant w16a16|w8a8|w8a16|w6a16|w4a16] [--kv-int8] [--batch B]\n"
    "      [--prompt P] [--output O] [--chips N --link-gbps G] [--pick nominal|low|high]\n"
    "      [--kv-onchip] [--fidelity roofline|tile [--link-latency-us U]]\n"
    "                                   LLM serving estimate: TTFT, decode time (mean over the output,\n"
    "                                   first and last step), tokens/s, KV cache;\n"
    "                                   tile: prefill and up to 5 decode steps simulated per tile on one\n"
    "                                   chip's tensor-parallel shard (bytes per level, bound, all-reduces\n"
    "                                   and the logits all-gather),\n"
    "                                   --kv-onchip keeps the KV cache in L2 (when it fits half of it)\n"
    "  llm list                         the bundled LLM shapes (models/llm)\n"
    "\n"
    "kernels and models:\n"
    "  kernels drift [--rows R] [--cols C] [--seed S] [--offset X]\n"
    "                [--variant two-pass|single-pass|welford] [--gelu erf|tanh] [--fp16]\n"
    "                                   fused LayerNorm+GELU (int8 output) against the unfused\n"
    "                                   double reference on a deterministic random input\n"
    "                                   (defaults: 16 x 768, seed 1, offset 0, two-pass, erf, fp32)\n"
    "  kernels drift --model FILE.onnx [--data fashion-mnist|DIR] [--limit N] [--variant ...] [--gelu ...] [--fp16]\n"
    "                                   the same on the real inputs of every LayerNorm -> Gelu pair of a\n"
    "                                   model over the first N test images (256)\n"
    "  onnx-test DIR...                 run ONNX backend node tests (model.onnx + test_data_set_*/)\n"
    "  eval --model FILE.onnx --data fashion-mnist|DIR [--limit N] [--batch B] [--kernels fast|reference]\n"
    "       [--predictions] [--quant Q [QUANTIZE OPTIONS]]\n"
    "                                   accuracy of an image classifier on the 10000-image test set\n"
    "                                   (DIR: t10k-{images-idx3,labels-idx1}-ubyte), per-node times;\n"
    "                                   --quant quantizes it first (as 'quantize' does) and adds the\n"
    "                                   per-layer SQNR; --json --predictions: every predicted class\n"
    "  quantize --model IN.onnx --out OUT.onnx [--quant Q] [--calib N] [--calibration minmax|percentile|mse]\n"
    "      [--percentile P] [--no-fuse] [--no-fold-bn] [--mixed-bits B] [--int4-storage int4|int8]\n"
    "      [--data fashion-mnist|DIR]\n"
    "                                   post-training quantization into a QDQ ONNX file (ONNX Runtime runs\n"
    "                                   it too): calibration on the first N training images (256), BN\n"
    "                                   folding, Conv+ReLU and LayerNorm+GELU fusion, per-layer SQNR vs fp32\n"
    "                                   Q: fp32 int8 int8-pertensor w8a8-pertensor w4a8 w4g32a8 w4g32 w8\n"
    "                                   mixed (default int8); mixed: 4 or 8 bits per layer by sensitivity,\n"
    "                                   average weight width at most B (6); 4-bit weights are INT4 in an\n"
    "                                   opset-21 file (half the int8 size), --int4-storage int8 keeps them\n"
    "                                   in int8 containers for runtimes older than opset 21\n"
    "  train --model cnn|mixer --out FILE.onnx [--epochs E] [--seed S] [--limit N] [--batch B]\n"
    "        [--data fashion-mnist|DIR] train the small CNN (core/nn/train.hpp; defaults: 8 epochs, batch 32)\n"
    "                                   or the MLP-Mixer (core/nn/train_mixer.hpp; defaults: 10 epochs, batch 64)\n"
    "                                   on the training split with fp32 backprop and Adam (seed 1), write it\n"
    "                                   as ONNX, print its test accuracy\n"
    "  train --model pcb-cnn --out FILE.onnx [--epochs E] [--seed S]\n"
    "                                   train the PCB cell's defect CNN (core/lab/pcb_model.hpp) on rendered\n"
    "                                   boards, quantize it to int8 (QDQ, written to FILE; the fp32 model to\n"
    "                                   FILE_fp32.onnx), print its accuracy on held-out boards\n"
    "\n"
    "robotics:\n"
    "  robot fk --arm ARM --q Q         flange pose for joint angles Q (rad, comma-separated)\n"
    "  robot ik --arm ARM --T T [--seed Q]\n"
    "                                   all closed-form IK solutions for the 4x4 row-major pose T\n"
    "                                   (16 comma-separated numbers), nearest to the seed first\n"
    "  robot id --arm ARM --q Q --qd QD --qdd QDD\n"
    "                                   joint torques (N m) by inverse dynamics, gravity 9.80665 along -z\n"
    "                                   ARM: a bundled id (ur5e, ur10e) or a path to an arm *.json file\n"
    "  robot cell --scenario FILE|ID [--chip ID] [--chips DIR] [--measure]\n"
    "                                   run the PCB inspection cell (models/cells): verdicts, latency\n"
    "                                   budget per stage, boards, safety events and the action log;\n"
    "                                   --chip runs the perception model on another catalog chip;\n"
    "                                   --measure adds this host's control-tick and planning times\n"
    "\n"
    "certification:\n"
    "  keygen --out DIR                 new Ed25519 key: DIR/secret.key (mode 0600), DIR/public.key\n"
    "  certify --manifest FILE --key DIR/secret.key --out CERT [--policy PACK]... [--log LOG]\n"
    "      [--now YYYY-MM-DDTHH:MM:SSZ] [--validity-days N] [--report FILE.md|FILE.html] [--measure [--limit N]]\n"
    "                                   certify a deployment; exit 0 only if every mandatory rule holds;\n"
    "                                   --report writes the clause-by-clause report (format by extension);\n"
    "                                   --measure runs the manifest's \"measure\" section (model evaluation,\n"
    "                                   cell runs on every chip) and certifies on the measured evidence;\n"
    "                                   --limit overrides the number of test images evaluated\n"
    "  verify CERT [--pubkey FILE] [--log LOG] [--now T] [--remeasure]\n"
    "                                   check signature, canonical form, evidence hashes, validity, log inclusion;\n"
    "                                   --remeasure re-runs every measured record from its parameters and\n"
    "                                   inputs (same SHA-256) and requires the same values\n"
    "  policy list                      the bundled policy packs (models/policy)\n"
    "  audit root (--leaves-hex H,H,... | --log LOG)      Merkle tree size and root\n"
    "  audit append --log LOG (--data TEXT | --data-file FILE) [--key FILE] [--now T] [--count N]\n"
    "                                   append an entry (+ a signed tree head); --count N appends N entries\n"
    "                                   \"TEXT #i\", each durable before the next, printing \"committed I\" after each\n"
    "  audit prove --log LOG (--index I | --from M) [--size N]     inclusion / consistency proof\n"
    "  audit verify-proof --proof FILE  check a proof printed by 'audit prove --json'\n"
    "  audit check --log LOG [--pubkey FILE] [--repair]   recovery report, tree heads, signatures;\n"
    "                                   --repair truncates a torn tail (a crash mid-append) first\n"
    "\n"
    "  version                          print the version\n"
    "  help                             this text\n"
    "\n"
    "--json prints one JSON document on stdout; errors always go to stderr with a non-zero exit code.\n";


// Options that take one value, and flags, by command.
const std::set<std::string> kValueOptions = {
    "--chip", "--gemm", "--dtype", "--fidelity", "--pick", "--llm", "--quant", "--batch", "--prompt", "--output",
    "--link-gbps", "--link-latency-us", "--scalesim-topology", "--scalesim-config", "--tile", "--numerics",  // simulate, llm
    "--rows", "--cols", "--seed", "--offset", "--variant", "--gelu",   // kernels drift (robot ik: --seed)
    "--arm", "--q", "--qd", "--qdd", "--T", "--scenario",              // robot
    "--model", "--data", "--limit", "--kernels", "--epochs",           // eval, train
    "--calib", "--calibration", "--percentile", "--mixed-bits", "--int4-storage",  // eval --quant, quantize
    "--out", "--manifest", "--key", "--log", "--pubkey", "--now",      // keygen, certify, verify, audit
    "--validity-days", "--report", "--leaves-hex", "--index", "--size", "--from", "--proof", "--count", "--data-file"};
// Options that may be given more than once; every value is kept in order.
const std::set<std::string> kListOptions = {"--policy"};
const std::set<std::string> kFlagOptions = {"--kv-int8", "--kv-onchip", "--fp16", "--gemm-topology", "--timeline", "--predictions", "--measure",
                                           "--no-fuse", "--no-fold-bn", "--remeasure", "--repair"};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--json") {
            a.json = true;
        } else if (s == "--chips") {
            if (i + 1 >= argc) throw UsageError("--chips needs a directory");
            a.chips_dir = argv[++i];
        } else if (kValueOptions.count(s)) {
            if (i + 1 >= argc) throw UsageError(s + " needs a value");
            a.options[s] = argv[++i];
        } else if (kListOptions.count(s)) {
            if (i + 1 >= argc) throw UsageError(s + " needs a value");
            a.lists[s].push_back(argv[++i]);
        } else if (kFlagOptions.count(s)) {
            a.flags.insert(s);
        } else if (s == "-h" || s == "--help") {
            a.positional.insert(a.positional.begin(), "help");
        } else if (s.size() > 1 && s[0] == '-') {
            throw UsageError("unknown option " + s);
        } else {
            a.positional.push_back(s);
        }
    }
    return a;
}

int run(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (a.positional.empty()) throw UsageError("no command given");
    const std::string& cmd = a.positional[0];
    if (cmd == "help") {
        if (a.json)
            std::cout << json{{"usage", kUsage}}.dump(2) << "\n";
        else
            std::cout << kUsage;
        return 0;
    }
    if (cmd == "version") {
        if (a.json)
            std::cout << json{{"name", "stacklab"}, {"version", kVersion}}.dump(2) << "\n";
        else
            std::cout << "stacklab " << kVersion << "\n";
        return 0;
    }
    if (cmd == "chips") return cmd_chips(a);
    if (cmd == "simulate") return cmd_simulate(a);
    if (cmd == "llm") return cmd_llm(a);
    if (cmd == "onnx-test") return cmd_onnx_test(a);
    if (cmd == "kernels") return cmd_kernels(a);
    if (cmd == "robot") return cmd_robot(a);
    if (cmd == "eval") return cmd_eval(a);
    if (cmd == "train") return cmd_train(a);
    if (cmd == "quantize") return cmd_quantize(a);
    if (cmd == "keygen") return cmd_keygen(a);
    if (cmd == "certify") return cmd_certify(a);
    if (cmd == "verify") return cmd_verify(a);
    if (cmd == "policy") return cmd_policy(a);
    if (cmd == "audit") return cmd_audit(a);
    throw UsageError("unknown command \"" + cmd + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "stacklab: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "stacklab: " << e.what() << "\n";
        return 1;
    }
}
