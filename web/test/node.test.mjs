// Node tests of @edgeinfer/web against the real PP-OCR text direction classifier.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EdgeinferError, load, loadFromManifest, ModelCache } from '@edgeinfer/web';
import { CLS, OUTPUT, OUTPUT_FILE, WORK, hostInfer, loadNpy, maxAbsDiff } from './helpers.mjs';

const V1 = () => join(WORK(), 'pack', 'ppocr-cls-v1.wasm');
const V2 = () => join(WORK(), 'pack', 'ppocr-cls-v2.wasm');
const ROW = 3 * 48 * 192;

let model, x, expected;
before(async () => {
  model = await load(V1());
  x = await loadNpy(join(CLS(), 'inputs', 'x.npy'));
  expected = await loadNpy(join(CLS(), 'expected', OUTPUT_FILE));
  assert.deepEqual(x.shape, [2, 3, 48, 192]);
});

const row = (i) => ({ data: x.data.slice(i * ROW, (i + 1) * ROW), shape: [1, 3, 48, 192] });

describe('load and metadata', () => {
  test('metadata describes the packed model', () => {
    const md = model.metadata();
    assert.equal(md.name, 'ppocr-cls');
    assert.equal(md.version, '1');
    assert.match(md.engine, /^tract /);
    assert.equal(md.preinitialized, true);
    assert.deepEqual(md.inputs, [{ name: 'x', dtype: 'fp32', shape: [1, 3, 48, 192] }]);
    assert.deepEqual(md.outputs, [{ name: OUTPUT, dtype: 'fp32', shape: [1, 2] }]);
    // The ONNX model's metadata_props and producer, as pack carried them.
    assert.deepEqual(md.properties, { 'onnx.producer': 'PaddlePaddle' });
    assert.ok(model.loadMs > 0 && model.loadMs < 30_000, `loadMs ${model.loadMs}`);
  });

  test('loads from bytes, a file: URL and a bundle.json', async () => {
    const bytes = new Uint8Array(await readFile(V1()));
    const viaBytes = await load(bytes);
    const viaUrl = await load(new URL(`file://${V1()}`));
    const viaBundle = await load(join(WORK(), 'bundle-v1', 'bundle.json'));
    const want = (await model.infer({ x: row(0) }))[OUTPUT].data;
    for (const m of [viaBytes, viaUrl, viaBundle]) {
      assert.deepEqual(Array.from((await m.infer({ x: row(0) }))[OUTPUT].data), Array.from(want));
    }
  });
});

describe('inference', () => {
  test('reference input matches expected/*.npy (1e-4) and the host CLI (1e-5)', async () => {
    for (const i of [0, 1]) {
      const out = (await model.infer({ x: row(i) }))[OUTPUT];
      assert.deepEqual(out.shape, [1, 2]);
      assert.equal(out.dtype, 'fp32');
      assert.ok(out.data instanceof Float32Array);
      const want = expected.data.slice(i * 2, i * 2 + 2);
      const dRef = maxAbsDiff(out.data, want);
      assert.ok(dRef <= 1e-4, `row ${i}: |web - onnxruntime| = ${dRef}`);
      const host = (await hostInfer(V1(), { x: row(i) }))[OUTPUT];
      assert.deepEqual(host.shape, [1, 2]);
      const dHost = maxAbsDiff(out.data, host.data);
      assert.ok(dHost <= 1e-5, `row ${i}: |web - host| = ${dHost}`);
    }
  });

  test('labels: row 0 upright, row 1 rotated 180', async () => {
    const labels = [];
    for (const i of [0, 1]) {
      const p = (await model.infer({ x: row(i) }))[OUTPUT].data;
      labels.push(p[1] > p[0] ? '180' : '0');
    }
    assert.deepEqual(labels, ['0', '180']);
  });

  test('a bare Float32Array takes the declared shape', async () => {
    const a = (await model.infer({ x: row(1).data }))[OUTPUT].data;
    const b = (await model.infer({ x: row(1) }))[OUTPUT].data;
    assert.deepEqual(Array.from(a), Array.from(b));
  });
});

describe('errors are Errors with the component code', () => {
  const rejects = async (inputs, code, re) => {
    await assert.rejects(model.infer(inputs), (e) => {
      assert.ok(e instanceof Error, 'an Error');
      assert.ok(e instanceof EdgeinferError, 'an EdgeinferError');
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
  };
  test('wrong input name', () => rejects({ y: row(0) }, 'not-found', /unknown input `y`/));
  test('wrong shape', () => rejects({ x: { data: new Float32Array(3 * 48 * 100), shape: [1, 3, 48, 100] } }, 'invalid-argument', /shape/));
  test('wrong dtype', () => rejects({ x: new Int32Array(ROW) }, 'invalid-argument', /dtype i32/));
  test('missing input', () => rejects({}, 'invalid-argument', /x/));
  test('data and shape disagree (checked in JS)', () => rejects({ x: { data: new Float32Array(10), shape: [1, 3, 48, 192] } }, 'invalid-argument', /elements/));
  test('the model still works after errors', async () => {
    const p = (await model.infer({ x: row(0) }))[OUTPUT].data;
    assert.ok(p[0] > 0.99);
  });
  test('not a component', async () => {
    await assert.rejects(load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), (e) => e instanceof EdgeinferError && e.code === 'invalid-encoding');
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await assert.rejects(load(core), (e) => e.code === 'invalid-encoding' && /core WebAssembly module/.test(e.message));
  });
});

describe('manifest updates', () => {
  let site, cacheDir, v1, v2;
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  const publish = (m) => writeFile(join(site, 'model.json'), JSON.stringify(m));
  before(async () => {
    site = await mkdtemp(join(tmpdir(), 'edgeinfer-site-'));
    cacheDir = await mkdtemp(join(tmpdir(), 'edgeinfer-cache-'));
    v1 = await readFile(V1());
    v2 = await readFile(V2());
    await copyFile(V1(), join(site, 'ppocr-cls-1.wasm'));
    await copyFile(V2(), join(site, 'ppocr-cls-2.wasm'));
  });
  after(async () => {
    await rm(site, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });
  const open = () => loadFromManifest(join(site, 'model.json'), { dir: cacheDir });

  test('first load downloads, verifies and caches', async () => {
    await publish({ name: 'ppocr-cls', version: '1', sha256: sha(v1), url: 'ppocr-cls-1.wasm' });
    const r = await open();
    assert.equal(r.source, 'network');
    assert.equal(r.model.metadata().version, '1');
    const again = await open();
    assert.equal(again.source, 'cache');
    assert.equal(again.model.metadata().version, '1');
  });

  test('works offline from the cache', async () => {
    await rm(join(site, 'model.json'));
    await rm(join(site, 'ppocr-cls-1.wasm'));
    const r = await open();
    assert.equal(r.source, 'cache');
    assert.equal(r.offline, true);
    assert.equal(r.model.metadata().version, '1');
    assert.ok((await r.model.infer({ x: row(1) }))[OUTPUT].data[1] > 0.99);
  });

  test('a tampered version is refused and the old one kept', async () => {
    const tampered = new Uint8Array(v2);
    tampered[tampered.length - 100] ^= 0xff;
    await writeFile(join(site, 'ppocr-cls-2.wasm'), tampered);
    await publish({ name: 'ppocr-cls', version: '2', sha256: sha(v2), url: 'ppocr-cls-2.wasm' });
    const r = await open();
    assert.equal(r.source, 'cache');
    assert.equal(r.updated, false);
    assert.equal(r.model.metadata().version, '1');
    assert.equal(r.rejected.manifest.version, '2');
    assert.equal(r.rejected.error.code, 'security');
    assert.match(r.rejected.error.message, /sha256 mismatch/);
    // and the cache still holds version 1
    const store = await ModelCache.open({ dir: cacheDir });
    const cached = await store.get(String(new URL(`file://${join(site, 'model.json')}`)));
    assert.equal(cached.manifest.version, '1');
    assert.equal(sha(cached.bytes), sha(v1));
  });

  test('a manifest whose name/version disagree with the model is refused', async () => {
    await writeFile(join(site, 'ppocr-cls-2.wasm'), v2);
    await publish({ name: 'ppocr-cls', version: '3', sha256: sha(v2), url: 'ppocr-cls-2.wasm' });
    const r = await open();
    assert.equal(r.model.metadata().version, '1');
    assert.match(r.rejected.error.message, /announces ppocr-cls 3, the model is ppocr-cls 2/);
  });

  test('a good new version replaces the old one', async () => {
    await publish({ name: 'ppocr-cls', version: '2', sha256: sha(v2), url: 'ppocr-cls-2.wasm' });
    const r = await open();
    assert.equal(r.source, 'network');
    assert.equal(r.updated, true);
    assert.equal(r.previous.version, '1');
    assert.equal(r.model.metadata().version, '2');
    const p = (await r.model.infer({ x: row(0) }))[OUTPUT].data;
    assert.ok(p[0] > 0.99);
    const again = await open();
    assert.equal(again.source, 'cache');
    assert.equal(again.model.metadata().version, '2');
  });

  test('no cache and a tampered download: an error, no model', async () => {
    const tampered = new Uint8Array(v2);
    tampered[9] ^= 1;
    await writeFile(join(site, 'ppocr-cls-2.wasm'), tampered);
    await assert.rejects(loadFromManifest(join(site, 'model.json'), { cache: false }), (e) => e.code === 'security');
  });
});

describe('WASI imports', () => {
  // The guest will also export wasi:http/incoming-handler; the shim must provide what that imports.
  const PROXY = ['wasi:http/types', 'wasi:http/outgoing-handler', 'wasi:io/error', 'wasi:io/poll', 'wasi:io/streams',
    'wasi:clocks/monotonic-clock', 'wasi:clocks/wall-clock', 'wasi:random/random', 'wasi:cli/stdout', 'wasi:cli/stderr',
    'wasi:cli/stdin', 'wasi:cli/environment', 'wasi:cli/exit', 'wasi:filesystem/types', 'wasi:filesystem/preopens'];
  test('every wasi:http/proxy and wasi:cli interface resolves from preview2-shim', async () => {
    const { wasiImports } = await import('../src/wasi.js');
    const imports = await wasiImports(PROXY);
    for (const name of PROXY) assert.ok(imports[name], name);
    assert.equal(typeof imports['wasi:http/types'].Fields, 'function');
    assert.deepEqual(imports['wasi:cli/environment'].getEnvironment(), []); // no host env leaks in
  });
  test('an unknown import is a clear error', async () => {
    const { wasiImports } = await import('../src/wasi.js');
    await assert.rejects(wasiImports(['acme:thing/api']), /cannot provide/);
  });
});
