// Types of @edgeinfer/web.

/** Element types, as the WIT `tensor-type` enum. */
export type DType = 'fp16' | 'fp32' | 'fp64' | 'bf16' | 'u8' | 'i32' | 'i64' | 'bool' | 'i8' | 'i16' | 'u16' | 'u32' | 'u64';

/** The WIT `error-code` enum (wasi-nn's). */
export type ErrorCode = 'invalid-argument' | 'invalid-encoding' | 'timeout' | 'runtime-error' | 'unsupported-operation' | 'too-large' | 'not-found' | 'security' | 'unknown';

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** An input: a bare TypedArray (shape = the declared one) or data with an explicit shape. */
export type TensorInput = TypedArray | { data: TypedArray | number[] | bigint[]; shape?: number[]; dtype?: DType };

export interface Tensor<T extends TypedArray = TypedArray> {
  data: T;
  shape: number[];
  dtype: DType;
}

export interface TensorInfo {
  name: string;
  dtype: DType;
  /** A number for a fixed dimension, the symbol (e.g. "N") for a free one. */
  shape: Array<number | string>;
}

export interface ModelMetadata {
  name: string;
  version: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Inference engine inside the component, e.g. "tract 0.23.9". */
  engine: string;
  /** True when the optimized plan was snapshotted at pack time. */
  preinitialized: boolean;
  /** The ONNX model's metadata_props (class labels, a recognizer's dictionary...) and producer. */
  properties: Readonly<Record<string, string>>;
}

/** An error from the model or from checking the inputs; `code` is the component's error code. */
export class EdgeinferError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions);
}

export class Model {
  /** Milliseconds load() took (read, compile, instantiate). */
  loadMs: number;
  metadata(): ModelMetadata;
  /** Rejects with an EdgeinferError. */
  infer(inputs: Record<string, TensorInput>): Promise<Record<string, Tensor>>;
}

export type ModelSource = string | URL | Uint8Array | ArrayBuffer | ArrayBufferView | Response;

export interface LoadOptions {
  /** URL of a transpiled glue module (scripts/bundle.mjs --glue-only); default: the package's dist/glue/component.js. */
  glue?: string | URL;
}

/**
 * Loads a packed model component (.wasm: path or URL in Node, URL in a browser, or its bytes), or
 * a bundle.json written by scripts/bundle.mjs.
 */
export function load(source: ModelSource, options?: LoadOptions): Promise<Model>;

/** sha256 as lowercase hex (WebCrypto). */
export function sha256Hex(bytes: BufferSource): Promise<string>;

/** A path or URL as the package resolves it (Node: paths become file: URLs). */
export function resolveUrl(src: string | URL, base?: string | URL): URL;

/** The update manifest a publisher serves next to the model. */
export interface UpdateManifest {
  name: string;
  version: string;
  /** sha256 (hex) of the .wasm */
  sha256: string;
  /** The .wasm, relative to the manifest's URL. */
  url: string;
}

export interface CacheStore {
  get(key: string): Promise<{ manifest: UpdateManifest; bytes: Uint8Array } | null>;
  put(key: string, manifest: UpdateManifest, bytes: Uint8Array): Promise<void>;
}

export const ModelCache: {
  /** Cache API (browser, cache `cacheName`, default "edgeinfer-models") or a directory (Node, `dir`, default $EDGEINFER_CACHE_DIR or ~/.cache/edgeinfer-web). */
  open(options?: { dir?: string; cacheName?: string }): Promise<CacheStore>;
};

export interface ManifestLoadOptions extends LoadOptions {
  /** A store from ModelCache.open(), or false for no cache. */
  cache?: CacheStore | false;
  dir?: string;
  cacheName?: string;
  /** The manifest of the model the caller already runs: it is not loaded again (model: null). */
  current?: UpdateManifest;
}

export interface ManifestLoadResult {
  /** null when `current` is still the model to run. */
  model: Model | null;
  manifest: UpdateManifest;
  source: 'network' | 'cache' | 'current';
  /** A new, verified version replaced the cached one. */
  updated: boolean;
  previous?: UpdateManifest;
  /** The manifest could not be fetched; the cached model is used. */
  offline?: boolean;
  /** A new version was refused (e.g. code 'security': sha256 mismatch); the cached one is used. */
  rejected?: { manifest?: UpdateManifest; error: Error & { code?: ErrorCode } };
}

/** Loads the model a manifest announces, verifying its sha256 before switching, with caching. */
export function loadFromManifest(manifestUrl: string | URL, options?: ManifestLoadOptions): Promise<ManifestLoadResult>;

/** Downloads and verifies the announced version; rejects (code 'security') on a sha256 mismatch. */
export function checkForUpdate(manifestUrl: string | URL): Promise<{ manifest: UpdateManifest; bytes: Uint8Array }>;
