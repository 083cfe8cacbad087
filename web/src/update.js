// Edge model updates. A publisher serves a manifest, model.json:
//   {"name": "ppocr-cls", "version": "2", "sha256": "<hex of the .wasm>", "url": "ppocr-cls-2.wasm"}
// (url relative to the manifest). loadFromManifest() fetches it, and only when the downloaded
// .wasm hashes (WebCrypto SHA-256) to `sha256`, loads, and reports the same name and version does
// it become the current model and go into the cache. Otherwise the cached current model stays.
// Offline (manifest unreachable) the cached model is used.
import { sha256Hex } from './component.js';
import { EdgeinferError, load, resolveUrl } from './index.js';

const IS_NODE = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** Where the current model of each manifest is kept: Cache API in browsers, a directory in Node. */
export class ModelCache {
  /** options: {dir} (Node; default $EDGEINFER_CACHE_DIR or ~/.cache/edgeinfer-web), {cacheName} (browser). */
  static async open(options = {}) {
    if (!IS_NODE && globalThis.caches) return new CacheApiStore(options.cacheName ?? 'edgeinfer-models');
    if (IS_NODE) {
      const os = await import('node:os');
      const path = await import('node:path');
      const dir = options.dir ?? process.env.EDGEINFER_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'edgeinfer-web');
      return new FileStore(dir);
    }
    return new MemoryStore();
  }
}

async function keyHash(key) {
  return (await sha256Hex(new TextEncoder().encode(key))).slice(0, 24);
}

class FileStore {
  constructor(dir) { this.dir = dir; }
  async #paths(key) {
    const path = await import('node:path');
    const d = path.join(this.dir, await keyHash(key));
    return { d, current: path.join(d, 'current.json'), wasm: (sha) => path.join(d, `${sha}.wasm`) };
  }
  async get(key) {
    const fs = await import('node:fs/promises');
    const p = await this.#paths(key);
    try {
      const manifest = JSON.parse(await fs.readFile(p.current, 'utf8'));
      const bytes = new Uint8Array(await fs.readFile(p.wasm(manifest.sha256)));
      return { manifest, bytes };
    } catch {
      return null;
    }
  }
  async put(key, manifest, bytes) {
    const fs = await import('node:fs/promises');
    const p = await this.#paths(key);
    await fs.mkdir(p.d, { recursive: true });
    const tmp = `${p.wasm(manifest.sha256)}.tmp-${process.pid}`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, p.wasm(manifest.sha256));
    await fs.writeFile(`${p.current}.tmp-${process.pid}`, JSON.stringify(manifest, null, 2));
    await fs.rename(`${p.current}.tmp-${process.pid}`, p.current); // the atomic swap
    for (const f of await fs.readdir(p.d)) { // drop superseded versions
      if (f.endsWith('.wasm') && f !== `${manifest.sha256}.wasm`) await fs.rm(`${p.d}/${f}`, { force: true });
    }
  }
}

class CacheApiStore {
  constructor(name) { this.name = name; }
  async #urls(key) {
    const base = `${globalThis.location?.origin ?? 'http://localhost'}/__edgeinfer_cache__/${await keyHash(key)}/`;
    return { current: `${base}current.json`, wasm: (sha) => `${base}${sha}.wasm` };
  }
  async get(key) {
    const c = await caches.open(this.name);
    const u = await this.#urls(key);
    const cur = await c.match(u.current);
    if (!cur) return null;
    const manifest = await cur.json();
    const res = await c.match(u.wasm(manifest.sha256));
    if (!res) return null;
    return { manifest, bytes: new Uint8Array(await res.arrayBuffer()) };
  }
  async put(key, manifest, bytes) {
    const c = await caches.open(this.name);
    const u = await this.#urls(key);
    const old = await c.match(u.current).then((r) => r?.json()).catch(() => null);
    await c.put(u.wasm(manifest.sha256), new Response(bytes, { headers: { 'content-type': 'application/wasm' } }));
    await c.put(u.current, new Response(JSON.stringify(manifest), { headers: { 'content-type': 'application/json' } }));
    if (old && old.sha256 !== manifest.sha256) await c.delete(u.wasm(old.sha256));
  }
}

class MemoryStore {
  #m = new Map();
  async get(key) { return this.#m.get(key) ?? null; }
  async put(key, manifest, bytes) { this.#m.set(key, { manifest, bytes }); }
}

function checkManifest(m, url) {
  for (const f of ['name', 'version', 'sha256', 'url']) {
    if (typeof m?.[f] !== 'string' || !m[f]) throw new EdgeinferError('invalid-argument', `${url}: manifest lacks "${f}"`);
  }
  if (!/^[0-9a-f]{64}$/i.test(m.sha256)) throw new EdgeinferError('invalid-argument', `${url}: sha256 is not 64 hex digits`);
  return { name: m.name, version: m.version, sha256: m.sha256.toLowerCase(), url: m.url };
}

async function fetchText(url) {
  if (url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return fs.readFile(url, 'utf8');
  }
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  return res.text();
}

async function fetchBytes(url) {
  if (url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return new Uint8Array(await fs.readFile(url));
  }
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Downloads and verifies the version a manifest announces. Resolves to {manifest, bytes};
 * rejects with EdgeinferError code 'security' when the hash does not match.
 */
export async function checkForUpdate(manifestUrl) {
  const url = resolveUrl(manifestUrl);
  const manifest = checkManifest(JSON.parse(await fetchText(url)), url);
  const bytes = await fetchBytes(new URL(manifest.url, url));
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.sha256) {
    throw new EdgeinferError('security', `${manifest.name} ${manifest.version}: sha256 mismatch, the manifest says ${manifest.sha256}, the download hashes to ${digest}; refused`);
  }
  return { manifest, bytes };
}

/**
 * Loads the model a manifest points at, with verification and caching (see the top of this file).
 * Resolves to {model, manifest, source: 'network'|'cache', updated, previous?, rejected?, offline?}:
 * `updated` when a new version replaced a cached one; `rejected` = {manifest?, error} when a new
 * version was refused and the cached one kept. Options: {cache: ModelCache store | false,
 * dir, cacheName, glue, current}. With `current` (the manifest of the model the caller runs), `model`
 * is null unless a different, verified version was loaded.
 */
export async function loadFromManifest(manifestUrl, options = {}) {
  const url = resolveUrl(manifestUrl);
  const key = String(url);
  const store = options.cache === false ? new MemoryStore() : (options.cache ?? await ModelCache.open(options));
  let current = await store.get(key);
  if (current && (await sha256Hex(current.bytes)) !== current.manifest.sha256) current = null; // corrupt cache
  // `current`: the manifest of a model the caller already runs; it is not loaded a second time.
  const inUse = (m) => !!options.current && options.current.sha256 === m.sha256;
  const fromCache = async (extra) => ({
    model: inUse(current.manifest) ? null : await load(current.bytes, options),
    manifest: current.manifest, source: 'cache', updated: false, ...extra,
  });

  let manifest;
  try {
    manifest = checkManifest(JSON.parse(await fetchText(url)), url);
  } catch (error) {
    if (current) return fromCache({ offline: true, rejected: { error } });
    throw error;
  }
  if (current && current.manifest.sha256 === manifest.sha256) return fromCache({});
  if (!current && inUse(manifest)) return { model: null, manifest, source: 'current', updated: false };
  try {
    const got = await checkForUpdate(url);
    manifest = got.manifest;
    const model = await load(got.bytes, options);
    const md = model.metadata();
    if (md.name !== manifest.name || md.version !== manifest.version) {
      throw new EdgeinferError('security', `the manifest announces ${manifest.name} ${manifest.version}, the model is ${md.name} ${md.version}; refused`);
    }
    await store.put(key, manifest, got.bytes);
    return { model, manifest, source: 'network', updated: !!current, previous: current?.manifest };
  } catch (error) {
    if (!current) throw error;
    return fromCache({ rejected: { manifest, error } });
  }
}
