// Minimal .npy (format 1.0/2.0/3.0) reading and writing for the dtypes edgeinfer uses.
const NP = { '<f2': 'fp16', '<f4': 'fp32', '<f8': 'fp64', '|u1': 'u8', '<i4': 'i32', '<i8': 'i64', '|b1': 'bool', '|i1': 'i8', '<i2': 'i16', '<u2': 'u16', '<u4': 'u32', '<u8': 'u64' };
const ARR = { fp16: Uint16Array, fp32: Float32Array, fp64: Float64Array, u8: Uint8Array, i32: Int32Array, i64: BigInt64Array, bool: Uint8Array, i8: Int8Array, i16: Int16Array, u16: Uint16Array, u32: Uint32Array, u64: BigUint64Array };

/** Parses .npy bytes into {data: TypedArray, shape: number[], dtype} (C order only). */
export function readNpy(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8[0] !== 0x93 || String.fromCharCode(...u8.subarray(1, 6)) !== 'NUMPY') throw new Error('not a .npy file');
  const major = u8[6];
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(u8.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error('fortran-order .npy is not supported');
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const dtype = NP[descr];
  if (!dtype) throw new Error(`unsupported .npy dtype ${descr}`);
  const Arr = ARR[dtype];
  const body = Uint8Array.prototype.slice.call(u8, hstart + hlen); // a copy, aligned (Buffer#slice would be a view)
  return { data: new Arr(body.buffer, 0, body.byteLength / Arr.BYTES_PER_ELEMENT), shape, dtype };
}

/** Serializes {data, shape, dtype?} as .npy (format 1.0) bytes. */
export function writeNpy({ data, shape, dtype }) {
  dtype ??= Object.entries(ARR).find(([, A]) => data instanceof A)?.[0];
  const descr = Object.entries(NP).find(([, d]) => d === dtype)?.[0];
  if (!descr) throw new Error(`unsupported dtype ${dtype}`);
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
