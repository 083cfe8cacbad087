// @edgeinfer/web: run edgeinfer packed model components in Node 20+ and browsers.
//
//   import { load } from '@edgeinfer/web';
//   const model = await load('model.wasm');          // path, URL, bytes, Response, or bundle.json
//   model.metadata();                                // {name, version, inputs, outputs, ...}
//   const out = await model.infer({ x: new Float32Array(1 * 3 * 48 * 192) });
//   out['save_infer_model/scale_0.tmp_1'];           // {data: Float32Array, shape: [1, 2], dtype: 'fp32'}
import { isWasm, parseComponent, sha256Hex } from './component.js';
import { wasiImports } from './wasi.js';

export { sha256Hex } from './component.js';
export { loadFromManifest, checkForUpdate, ModelCache } from './update.js';

const IS_NODE = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** An error from the model (or from checking its inputs): `code` is the WIT error-code. */
export class EdgeinferError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'EdgeinferError';
    this.code = code;
  }
}

// ------------------------------------------------------------------ tensors

const DTYPES = {
  fp16: { bytes: 2, array: globalThis.Float16Array ?? Uint16Array },
  fp32: { bytes: 4, array: Float32Array },
  fp64: { bytes: 8, array: Float64Array },
  bf16: { bytes: 2, array: Uint16Array },
  u8: { bytes: 1, array: Uint8Array },
  i32: { bytes: 4, array: Int32Array },
  i64: { bytes: 8, array: BigInt64Array },
  bool: { bytes: 1, array: Uint8Array },
  i8: { bytes: 1, array: Int8Array },
  i16: { bytes: 2, array: Int16Array },
  u16: { bytes: 2, array: Uint16Array },
  u32: { bytes: 4, array: Uint32Array },
  u64: { bytes: 8, array: BigUint64Array },
};

function dtypeOf(data) {
  if (data instanceof Float32Array) return 'fp32';
  if (data instanceof Float64Array) return 'fp64';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof BigInt64Array) return 'i64';
  if (data instanceof Uint8Array) return 'u8';
  if (data instanceof Int8Array) return 'i8';
  if (data instanceof Int16Array) return 'i16';
  if (data instanceof Uint16Array) return 'u16';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof BigUint64Array) return 'u64';
  if (globalThis.Float16Array && data instanceof globalThis.Float16Array) return 'fp16';
  return null;
}

const badArg = (msg) => new EdgeinferError('invalid-argument', msg);

function dimsFor(name, length, info) {
  // A bare TypedArray takes the declared shape; one free dimension is inferred from the length.
  if (!info) return [length]; // unknown input: let the model name the problem
  const fixed = info.shape.map((d) => (typeof d === 'number' ? d : null));
  const free = fixed.filter((d) => d === null).length;
  const known = fixed.reduce((n, d) => n * (d ?? 1), 1);
  if (free === 0) return fixed;
  if (free === 1 && known > 0 && length % known === 0) return fixed.map((d) => d ?? length / known);
  throw badArg(`input ${name}: declared shape [${info.shape.join(',')}] has free dimensions; pass {data, shape}`);
}

function toNamedTensor(name, value, info) {
  let data, shape, dtype;
  if (ArrayBuffer.isView(value)) {
    data = value;
  } else if (value && typeof value === 'object' && 'data' in value) {
    ({ data, shape, dtype } = value);
  } else {
    throw badArg(`input ${name}: expected a TypedArray or {data, shape, dtype?}`);
  }
  if (Array.isArray(data)) {
    if (!dtype) throw badArg(`input ${name}: a plain array needs a dtype`);
    if (!DTYPES[dtype]) throw badArg(`input ${name}: unknown dtype ${dtype}`);
    const big = DTYPES[dtype].array === BigInt64Array || DTYPES[dtype].array === BigUint64Array;
    data = DTYPES[dtype].array.from(big ? data.map(BigInt) : data);
  }
  if (!ArrayBuffer.isView(data) || data instanceof DataView) throw badArg(`input ${name}: data must be a TypedArray`);
  const natural = dtypeOf(data);
  dtype ??= natural;
  if (!DTYPES[dtype]) throw badArg(`input ${name}: unknown dtype ${dtype}`);
  if (DTYPES[dtype].bytes !== data.BYTES_PER_ELEMENT) {
    throw badArg(`input ${name}: dtype ${dtype} has ${DTYPES[dtype].bytes}-byte elements, the data ${data.BYTES_PER_ELEMENT}-byte`);
  }
  shape ??= dimsFor(name, data.length, info);
  shape = Array.from(shape, Number);
  const count = shape.reduce((n, d) => n * d, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 32)) throw badArg(`input ${name}: bad shape [${shape}]`);
  if (count !== data.length) throw badArg(`input ${name}: shape [${shape}] holds ${count} elements, the data has ${data.length}`);
  return {
    name,
    tensor: {
      dimensions: Uint32Array.from(shape),
      ty: dtype,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    },
  };
}

function fromTensor({ dimensions, ty, data }) {
  const { bytes, array } = DTYPES[ty];
  const copy = data.byteOffset % bytes === 0 ? data : Uint8Array.prototype.slice.call(data); // alignment for the view
  return { data: new array(copy.buffer, copy.byteOffset, copy.byteLength / bytes), shape: Array.from(dimensions), dtype: ty };
}

const dim = (d) => (d.tag === 'fixed' ? Number(d.val) : d.val);
const info = (t) => ({ name: t.name, dtype: t.ty, shape: t.shape.map(dim) });

function wrap(e) {
  if (e instanceof EdgeinferError) return e;
  const p = e?.payload;
  if (p && typeof p === 'object' && typeof p.code === 'string') return new EdgeinferError(p.code, p.message, { cause: e });
  if (e instanceof WebAssembly.RuntimeError) return new EdgeinferError('runtime-error', `the model trapped: ${e.message}`, { cause: e });
  return new EdgeinferError('unknown', String(e?.message ?? e), { cause: e });
}

// ------------------------------------------------------------------ loading

async function readBytes(src) {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (typeof Response !== 'undefined' && src instanceof Response) {
    if (!src.ok) throw new Error(`HTTP ${src.status} for ${src.url}`);
    return new Uint8Array(await src.arrayBuffer());
  }
  const url = resolveUrl(src);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** A string is a URL (absolute or relative to the page) in a browser, a path or URL in Node. */
export function resolveUrl(src, base) {
  if (src instanceof URL) return src;
  if (typeof src !== 'string') throw new TypeError('expected a path, URL, bytes or Response');
  if (base) return new URL(src, base);
  if (/^[a-z][a-z0-9+.-]+:/i.test(src)) return new URL(src);
  if (IS_NODE) return new URL(`file://${pathToAbsolute(src)}`);
  return new URL(src, globalThis.location?.href);
}

function pathToAbsolute(p) {
  const abs = p.startsWith('/') ? p : `${process.cwd()}/${p}`;
  return abs.split('/').map(encodeURIComponent).join('/');
}

async function compileAll(list) {
  return Promise.all(list.map((b) => WebAssembly.compile(b)));
}

const DEFAULT_GLUE = new URL('../dist/glue/component.js', import.meta.url);
const glues = new Map();
function importGlue(url) {
  const key = String(url);
  if (!glues.has(key)) {
    glues.set(key, import(/* @vite-ignore */ key).catch((e) => {
      glues.delete(key);
      throw new Error(`cannot import the transpiled glue ${key} (${e.message}); ` +
        'generate it with `node scripts/bundle.mjs <any packed model>.wasm -o dist/glue --glue-only`', { cause: e });
    }));
  }
  return glues.get(key);
}

/**
 * Loads a model. `source`: a packed component (.wasm) as path/URL/bytes/Response, or the URL of a
 * bundle.json written by scripts/bundle.mjs. Options: `glue` (URL of a transpiled glue module,
 * default: the package's dist/glue/component.js).
 */
export async function load(source, options = {}) {
  const t0 = performance.now();
  let glue, modules;
  if ((typeof source === 'string' || source instanceof URL) && /\.json($|\?)/.test(String(source))) {
    const url = resolveUrl(source);
    const manifest = JSON.parse(new TextDecoder().decode(await readBytes(url)));
    if (manifest.format !== 1 || !Array.isArray(manifest.coreModules)) throw new Error(`${url}: not a full edgeinfer bundle.json`);
    glue = await importGlue(new URL(manifest.glue, url));
    modules = await Promise.all(manifest.coreModules.map(async ({ name }) => {
      const u = new URL(name, url);
      if (u.protocol !== 'file:' && WebAssembly.compileStreaming) {
        const res = await fetch(u);
        if (!res.ok) throw new Error(`HTTP ${res.status} for ${u}`);
        return WebAssembly.compileStreaming(res);
      }
      return WebAssembly.compile(await readBytes(u));
    }));
  } else {
    const bytes = await readBytes(source);
    if (!isWasm(bytes)) throw new EdgeinferError('invalid-encoding', 'not a WebAssembly component (no \\0asm header)');
    let parsed;
    try {
      parsed = await parseComponent(bytes);
    } catch (e) {
      throw new EdgeinferError('invalid-encoding', e.message);
    }
    glue = await importGlue(options.glue ? resolveUrl(options.glue) : DEFAULT_GLUE);
    if (glue.edgeinferFingerprint !== parsed.fingerprint) {
      throw new EdgeinferError('unsupported-operation',
        'this component has different imports/exports than the glue this package was built with ' +
        '(packed by another edgeinfer version?): run scripts/bundle.mjs on it and load its bundle.json, or pass {glue}');
    }
    if (glue.edgeinferCoreModules.length !== parsed.coreModules.length) throw new EdgeinferError('invalid-encoding', 'core module count differs from the glue');
    modules = await compileAll(parsed.coreModules);
  }
  const byName = new Map(glue.edgeinferCoreModules.map((n, i) => [n, modules[i]]));
  const imports = await wasiImports(glue.edgeinferImports);
  const model = new Model(glue, byName, imports);
  await model._instantiate();
  model.loadMs = performance.now() - t0;
  return model;
}

export class Model {
  #glue; #modules; #imports; #exports = null; #meta = null;

  constructor(glue, modules, imports) {
    this.#glue = glue;
    this.#modules = modules;
    this.#imports = imports;
    /** Milliseconds load() took: read, compile, instantiate. */
    this.loadMs = 0;
  }

  async _instantiate() {
    const root = await this.#glue.instantiate((name) => {
      const m = this.#modules.get(name);
      if (!m) throw new Error(`glue asked for unknown core module ${name}`);
      return m;
    }, this.#imports);
    this.#exports = root['edgeinfer:inference/model@0.1.0'] ?? root.model;
    if (!this.#exports?.infer) throw new Error('the component does not export edgeinfer:inference/model');
  }

  /**
   * {name, version, engine, preinitialized, inputs: [{name, dtype, shape}], outputs: [...],
   *  properties: {key: value}} (properties: the ONNX metadata_props, e.g. class labels)
   */
  metadata() {
    if (!this.#meta) {
      let m;
      try {
        m = this.#exports.metadata();
      } catch (e) {
        throw wrap(e);
      }
      this.#meta = Object.freeze({
        name: m.name, version: m.version, engine: m.engine, preinitialized: m.preinitialized,
        inputs: m.inputs.map(info), outputs: m.outputs.map(info),
        properties: Object.freeze(Object.fromEntries(m.properties ?? [])),
      });
    }
    return this.#meta;
  }

  /**
   * Runs the model. `inputs`: {name: TypedArray | {data, shape, dtype?}}. Resolves to
   * {name: {data: TypedArray, shape: number[], dtype}}; rejects with an EdgeinferError.
   */
  async infer(inputs) {
    if (!inputs || typeof inputs !== 'object') throw badArg('infer() takes an object {name: tensor}');
    if (!this.#exports) await this._instantiate(); // after a trap: a fresh instance
    const declared = new Map(this.metadata().inputs.map((i) => [i.name, i]));
    const list = Object.entries(inputs).map(([name, v]) => toNamedTensor(name, v, declared.get(name)));
    let out;
    try {
      out = this.#exports.infer(list);
    } catch (e) {
      const err = wrap(e);
      if (!(e?.payload)) this.#exports = null; // a trap leaves the instance unusable
      throw err;
    }
    const result = {};
    for (const { name, tensor } of out) result[name] = fromTensor(tensor);
    return result;
  }
}
