// Reading a packed model component: its top-level core modules and its "shape" fingerprint.
// Works in Node and the browser (WebCrypto only).

const LAYER_COMPONENT = [0x0d, 0x00, 0x01, 0x00];
const LAYER_MODULE = [0x01, 0x00, 0x00, 0x00];
const SECTION_CUSTOM = 0;
const SECTION_CORE_MODULE = 1;

export function isWasm(bytes) {
  return bytes.length >= 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

function leb(bytes, p) {
  let r = 0, s = 0, x;
  do {
    if (p >= bytes.length) throw new Error('truncated component (bad LEB128)');
    x = bytes[p++];
    r += (x & 0x7f) * 2 ** s;
    s += 7;
  } while (x & 0x80);
  return [r, p];
}

/** sha256 of bytes (or of several byte arrays, concatenated) as lowercase hex, via WebCrypto. */
export async function sha256Hex(bytes) {
  const d = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Splits a component binary: its top-level core modules (in order: jco names them
 * component.core.wasm, component.core2.wasm, ...) and a fingerprint, the sha256 of every other
 * top-level section except custom sections. Components made by the same edgeinfer guest share
 * the fingerprint whatever model they carry, so they share one transpiled glue.
 */
export async function parseComponent(bytes) {
  if (!isWasm(bytes)) throw new Error('not a WebAssembly binary (no \\0asm header)');
  const layer = [...bytes.subarray(4, 8)];
  if (layer.every((b, i) => b === LAYER_MODULE[i])) {
    throw new Error('a core WebAssembly module, not a component: pack the model with `edgeinfer pack`');
  }
  if (!layer.every((b, i) => b === LAYER_COMPONENT[i])) {
    throw new Error(`unsupported component binary version ${layer.join(',')}`);
  }
  const coreModules = [];
  const shape = [];
  let p = 8;
  while (p < bytes.length) {
    const id = bytes[p];
    let len, start;
    [len, start] = leb(bytes, p + 1);
    const end = start + len;
    if (end > bytes.length) throw new Error('truncated component (section past the end)');
    if (id === SECTION_CORE_MODULE) coreModules.push(bytes.subarray(start, end));
    else if (id !== SECTION_CUSTOM) shape.push(bytes.subarray(p, end));
    p = end;
  }
  const total = shape.reduce((n, s) => n + s.length, 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const s of shape) { joined.set(s, o); o += s.length; }
  return { coreModules, fingerprint: await sha256Hex(joined) };
}
