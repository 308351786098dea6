// Model -> bytes. Tensors are always written as raw_data (little-endian), so load -> save -> load
// keeps every tensor bit-identical and saving is deterministic.
import { ModelProto } from './schema.js';
import { dataBytes, type Attribute, type Graph, type Model, type Tensor, type ValueInfo } from './ir.js';
import { writeFileAtomic } from '../util/fs.js';

const A = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 };
const enc = new TextEncoder();

export function encodeTensor(t: Tensor): Record<string, unknown> {
  return { dims: t.dims, data_type: t.dtype, name: t.name, raw_data: dataBytes(t.data) };
}

function encodeValueInfo(v: ValueInfo): Record<string, unknown> {
  const tensor_type: Record<string, unknown> = { elem_type: v.dtype };
  if (v.shape) tensor_type.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})) };
  return { name: v.name, type: { tensor_type } };
}

function encodeAttribute(name: string, a: Attribute): Record<string, unknown> {
  switch (a.type) {
    case 'float': return { name, type: A.FLOAT, f: a.value };
    case 'int': return { name, type: A.INT, i: a.value };
    case 'string': return { name, type: A.STRING, s: enc.encode(a.value) };
    case 'tensor': return { name, type: A.TENSOR, t: encodeTensor(a.value) };
    case 'graph': return { name, type: A.GRAPH, g: encodeGraph(a.value) };
    case 'floats': return { name, type: A.FLOATS, floats: a.value };
    case 'ints': return { name, type: A.INTS, ints: a.value };
    case 'strings': return { name, type: A.STRINGS, strings: a.value.map((s) => enc.encode(s)) };
    case 'tensors': return { name, type: A.TENSORS, tensors: a.value.map(encodeTensor) };
    case 'graphs': return { name, type: A.GRAPHS, graphs: a.value.map(encodeGraph) };
  }
}

function encodeGraph(g: Graph): Record<string, unknown> {
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      input: n.inputs, output: n.outputs, name: n.name, op_type: n.opType,
      ...(n.domain ? { domain: n.domain } : {}),
      attribute: Object.entries(n.attributes).map(([k, a]) => encodeAttribute(k, a)),
    })),
    initializer: [...g.initializers.values()].map(encodeTensor),
    input: g.inputs.map(encodeValueInfo),
    output: g.outputs.map(encodeValueInfo),
    value_info: g.valueInfo.map(encodeValueInfo),
  };
}

export function saveModel(model: Model): Uint8Array {
  const msg = ModelProto.fromObject({
    ir_version: model.irVersion,
    opset_import: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    ...(model.docString ? { doc_string: model.docString } : {}),
    graph: encodeGraph(model.graph),
    metadata_props: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
  });
  return ModelProto.encode(msg).finish();
}

export function saveModelFile(model: Model, path: string): void {
  writeFileAtomic(path, saveModel(model));
}
