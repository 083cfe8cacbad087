// End-to-end: the demo page in Debian's headless Chromium (playwright-core, no browser download),
// served by `python3 -m http.server` on 127.0.0.1. Checks labels on the real sample image, that
// the page's outputs equal the host CLI's on the page's own preprocessed tensor, the update path
// (tampered version refused, good one taken, offline from the cache), and that no request left
// 127.0.0.1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CLS, WORK, hostInfer, loadNpy, maxAbsDiff } from './helpers.mjs';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const T = 60_000; // every wait is bounded
const OUTPUT = 'save_infer_model/scale_0.tmp_1';
const ROW = 3 * 48 * 192;

let server, origin, profile, context;
const requests = [];
const pageErrors = [];

function startServer() {
  // python3 -m http.server on a free port chosen by the OS (port 0); it prints the port.
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', WEB],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => { p.kill(); reject(new Error('http.server did not start in 10 s')); }, 10_000);
    let buf = '';
    p.stdout.on('data', (d) => {
      buf += d;
      const m = /port (\d+)/.exec(buf);
      if (m) { clearTimeout(timer); resolve({ proc: p, port: Number(m[1]) }); }
    });
    p.stderr.on('data', () => {}); // request log
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`http.server exited (${code})`)); });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
}

async function newPage() {
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  return page;
}

async function waitReady(page) {
  await page.waitForFunction(() => window.edgeinferDemo?.ready || window.edgeinferDemo?.error, null, { timeout: T });
  const err = await page.evaluate(() => window.edgeinferDemo.error);
  assert.equal(err, null, `the demo failed to load: ${err}`);
}

async function classified(page, n) {
  await page.waitForFunction((k) => window.edgeinferDemo.results >= k || window.edgeinferDemo.error, n, { timeout: T });
  return page.evaluate(() => {
    const d = window.edgeinferDemo;
    return { error: d.error, label: d.lastLabel, output: d.lastOutput, input: Array.from(d.lastInput), shown: document.getElementById('label').textContent };
  });
}

/** The page's outputs must equal the host CLI's on the page's own preprocessed tensor. */
async function assertMatchesHost(r) {
  assert.equal(r.input.length, ROW);
  const host = (await hostInfer(join(WORK(), 'pack', 'ppocr-cls-v1.wasm'), { x: { data: Float32Array.from(r.input), shape: [1, 3, 48, 192] } }))[OUTPUT];
  const d = maxAbsDiff(r.output, host.data);
  assert.ok(d <= 1e-5, `|browser - host| = ${d} (browser ${r.output}, host ${Array.from(host.data)})`);
}

before(async () => {
  const s = await startServer();
  server = s.proc;
  origin = `http://127.0.0.1:${s.port}`;
  profile = await mkdtemp(join(tmpdir(), 'edgeinfer-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: T,
  });
  context.on('request', (r) => requests.push(r.url()));
});

after(async () => {
  await context?.close().catch(() => {});
  await stopServer();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('the demo classifies the real sample upright (0) and rotated (180), equal to the host', async () => {
  const page = await newPage();
  await page.goto(`${origin}/demo/`, { timeout: T });
  await waitReady(page);
  assert.equal(await page.textContent('#model-name'), 'ppocr-cls');
  assert.equal(await page.textContent('#model-version'), '1');

  await page.setInputFiles('#file', join(CLS(), 'sample.png'));
  const up = await classified(page, 1);
  assert.equal(up.error, null);
  assert.equal(up.label, '0', `upright sample: ${up.output}`);
  assert.equal(up.shown, '0°');
  assert.ok(up.output[0] > 0.9, `confidence ${up.output[0]}`);
  await assertMatchesHost(up);

  // The page's preprocessing against the Python reference (PIL) of the same image: the resize
  // filters differ, the layout, normalization and padding must not.
  const ref = await loadNpy(join(CLS(), 'inputs', 'x.npy'));
  const refRow = ref.data.subarray(0, ROW);
  let sum = 0;
  for (let i = 0; i < ROW; i++) sum += Math.abs(up.input[i] - refRow[i]);
  console.log(`preprocessing: mean |page - PIL reference| = ${(sum / ROW).toFixed(4)}`);
  assert.ok(sum / ROW < 0.05, `mean |page - PIL reference| = ${sum / ROW}`);

  await page.click('#rotate');
  const down = await classified(page, 2);
  assert.equal(down.label, '180', `rotated sample: ${down.output}`);
  assert.equal(down.shown, '180°');
  assert.ok(down.output[1] > 0.9);
  await assertMatchesHost(down);

  // The import map also serves the shims a wasi:http-exporting guest imports.
  const http = await page.evaluate(async () => {
    const { wasiImports } = await import('/src/wasi.js');
    const i = await wasiImports(['wasi:http/types', 'wasi:http/outgoing-handler', 'wasi:io/streams']);
    return [typeof i['wasi:http/types'].Fields, typeof i['wasi:http/outgoing-handler'].handle];
  });
  assert.deepEqual(http, ['function', 'function']);

  await page.click('#sample'); // the sample next to the manifest, fetched by the page
  const again = await classified(page, 3);
  assert.equal(again.label, '0');

  await mkdir(join(WEB, 'test-output'), { recursive: true });
  const shot = join(WEB, 'test-output', 'demo.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  await page.close();
});

test('model updates: a tampered version is refused, a good one taken, then offline from the cache', async () => {
  const dir = join(WEB, 'demo', 'models', 'update-test');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const v1 = await readFile(join(WORK(), 'pack', 'ppocr-cls-v1.wasm'));
  const v2 = await readFile(join(WORK(), 'pack', 'ppocr-cls-v2.wasm'));
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  const tampered = new Uint8Array(v2);
  tampered[tampered.length >> 1] ^= 0x01;
  await writeFile(join(dir, 'ppocr-cls-1.wasm'), v1);
  await writeFile(join(dir, 'ppocr-cls-2.wasm'), tampered);
  const publish = (m) => writeFile(join(dir, 'model.json'), JSON.stringify(m));
  await publish({ name: 'ppocr-cls', version: '1', sha256: sha(v1), url: 'ppocr-cls-1.wasm' });

  const page = await newPage();
  const url = `${origin}/demo/?manifest=models/update-test/model.json`;
  await page.goto(url, { timeout: T });
  await waitReady(page);
  assert.equal(await page.textContent('#model-version'), '1');
  assert.equal(await page.evaluate(() => window.edgeinferDemo.source), 'network');
  await page.setInputFiles('#file', join(CLS(), 'sample.png'));
  assert.equal((await classified(page, 1)).label, '0');

  // Version 2 announced with the genuine sha256, but the served bytes are tampered with.
  await publish({ name: 'ppocr-cls', version: '2', sha256: sha(v2), url: 'ppocr-cls-2.wasm' });
  await page.click('#update');
  await page.waitForFunction(() => window.edgeinferDemo.updateChecks >= 1, null, { timeout: T });
  const refused = await page.evaluate(() => window.edgeinferDemo.lastUpdate);
  assert.equal(refused.updated, false);
  assert.match(refused.rejected ?? '', /sha256 mismatch/);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'refused');
  assert.equal(await page.textContent('#model-version'), '1');
  await page.click('#rotate');
  assert.equal((await classified(page, 2)).label, '180'); // still running version 1

  // The publisher fixes the upload: version 2 verifies and replaces version 1.
  await writeFile(join(dir, 'ppocr-cls-2.wasm'), v2);
  await page.click('#update');
  await page.waitForFunction(() => window.edgeinferDemo.updateChecks >= 2, null, { timeout: T });
  assert.equal((await page.evaluate(() => window.edgeinferDemo.lastUpdate)).updated, true);
  assert.equal(await page.textContent('#model-version'), '2');
  assert.match(await page.textContent('#status'), /updated 1 → 2/);

  // Offline: the server is gone. The service worker has the page, @edgeinfer/web the verified
  // version 2 in the Cache API.
  await page.waitForFunction(() => window.edgeinferDemo.offlineReady, null, { timeout: T });
  await stopServer();
  await page.reload({ timeout: T });
  await waitReady(page);
  assert.equal(await page.textContent('#model-version'), '2');
  assert.equal(await page.evaluate(() => window.edgeinferDemo.source), 'cache');
  assert.match(await page.textContent('#status'), /offline/);
  await page.setInputFiles('#file', join(CLS(), 'sample.png'));
  assert.equal((await classified(page, 1)).label, '0');
  await rm(dir, { recursive: true, force: true });
  await page.close();
});

test('no request left 127.0.0.1 and the page raised no errors', () => {
  assert.ok(requests.length > 10, `saw ${requests.length} requests`);
  const outside = requests.filter((u) => {
    const { protocol, hostname } = new URL(u);
    if (protocol === 'data:' || protocol === 'blob:') return false;
    return hostname !== '127.0.0.1';
  });
  assert.deepEqual(outside, []);
  // Failed fetches while the server is down (offline step) are expected console errors.
  const unexpected = pageErrors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|Failed to fetch/.test(e));
  assert.deepEqual(unexpected, []);
});
