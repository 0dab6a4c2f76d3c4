// A tiny ONNX ModelProto writer for benchmark graphs (protobuf wire format by hand: the graphs are
// a single node, and this keeps the benchmark free of a protobuf dependency). Field numbers are
// onnx.proto's.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const key = (field, wire) => varint((field << 3) | wire);
const vint = (field, n) => [...key(field, 0), ...varint(n)];
const bytes = (field, data) => [...key(field, 2), ...varint(data.length), ...data];
const str = (field, s) => bytes(field, [...Buffer.from(s, 'utf8')]);
const msg = (field, parts) => bytes(field, parts.flat());

export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 };

export function tensorProto(field, name, dtype, dims, raw) {
  return msg(field, [...dims.map(d => vint(1, d)), vint(2, dtype), str(8, name), bytes(9, [...raw])]);
}

function valueInfo(field, name, dtype, dims) {
  const shape = msg(2, dims.map(d => msg(1, [vint(1, d)])));
  return msg(field, [str(1, name), msg(2, [msg(1, [vint(1, dtype), shape])])]);
}

// graph: {nodes: [{op, inputs, outputs}], initializers: [{name, dtype, dims, raw}],
//         inputs: [{name, dtype, dims}], outputs: [...]}
export function modelBytes(graph, opset = 13) {
  const g = [
    ...graph.nodes.map((n, i) => msg(1, [...n.inputs.map(x => str(1, x)), ...n.outputs.map(x => str(2, x)),
                                         str(3, `node${i}`), str(4, n.op)])),
    str(2, 'bench'),
    ...graph.initializers.map(t => tensorProto(5, t.name, t.dtype, t.dims, t.raw)),
    ...graph.inputs.map(v => valueInfo(11, v.name, v.dtype, v.dims)),
    ...graph.outputs.map(v => valueInfo(12, v.name, v.dtype, v.dims)),
  ];
  const model = [vint(1, 8), str(2, 'stacklab-bench'), msg(7, g), msg(8, [str(1, ''), vint(2, opset)])];
  return Uint8Array.from(model.flat());
}
