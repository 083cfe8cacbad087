#!/usr/bin/env node
// Benchmark (not a test): the same model and input through @edgeinfer/web and through
// onnxruntime-web (wasm backend, SIMD build, numThreads=1), in Node. Each engine runs in fresh
// child processes (cold loads are not helped by the other engine or an earlier run); the figures
// are medians over the processes.
//
//   node bench/node-vs-ort.mjs --wasm model.wasm --onnx model.onnx --input NAME=FILE.npy ...
//       [--runs 100] [--procs 5] [--warmup 300] [--warmup-ms 10000] [--runs-ms 20000]
//       [--json out.json] [--table-row --name NAME]
//
// Both engines get the first row of each input file (batch 1) and every output is compared.
// load: model bytes in memory -> ready to infer (compile + instantiate; for ort, creating the
// session, which also initializes its wasm runtime). first: the first inference. median: the
// median of `runs` further inferences (or as many as fit in `runs-ms`) after `warmup` untimed
// ones (or `warmup-ms`): V8 tiers hot wasm functions up to TurboFan in background threads,
// which takes ~100 inferences of the PP-OCR classifier and inflates earlier timings (steady
// state is what is measured). CPU: user+sys time of the process over the timed runs divided by
// their number. Bytes shipped: what a web page downloads, raw and gzipped. `--table-row`
// prints one markdown row of the panel table instead (web/bench/run.sh --panel).
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import os from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = join(HERE, '..');

function args() {
  const a = process.argv.slice(2);
  const o = { runs: 100, procs: 5, warmup: 300, 'warmup-ms': 10000, 'runs-ms': 20000, input: [] };
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (k === 'table-row') { o.tableRow = true; continue; }
    if (k === 'input') o.input.push(a[++i]);
    else o[k] = a[++i];
  }
  for (const k of ['runs', 'procs', 'warmup', 'warmup-ms', 'runs-ms']) o[k] = Number(o[k]);
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// `--input NAME=FILE.npy` (or a bare FILE.npy for the model's only input): the first row of
// each, so both engines run batch 1 whatever the file holds.
async function firstRows(specs) {
  const { readNpy } = await import('../src/npy.js');
  const inputs = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const [name, file] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [null, spec];
    const t = readNpy(await readFile(file));
    const shape = t.shape.length ? [1, ...t.shape.slice(1)] : [];
    const n = shape.reduce((p, d) => p * d, 1);
    inputs[name ?? ''] = { data: t.data.slice(0, n), shape, dtype: t.dtype };
  }
  return inputs;
}

const ORT_TYPE = { fp32: 'float32', fp64: 'float64', i64: 'int64', i32: 'int32', u8: 'uint8', i8: 'int8', bool: 'bool', fp16: 'float16' };

// Times `run` after a warm-up: V8 tiers hot wasm functions up to TurboFan in background
// threads, which inflates early timings, so `warmup` runs (or `warmup-ms`, whichever ends
// first) go untimed; then `runs` runs (or `runs-ms`).
async function timed(o, run) {
  const t0 = performance.now();
  for (let i = 0; i < o.warmup && performance.now() - t0 < o['warmup-ms']; i++) await run();
  const times = [];
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  for (let i = 0; i < o.runs && (i < 5 || performance.now() - t1 < o['runs-ms']); i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  return { times, cpuMs: (cpu.user + cpu.system) / 1000 / times.length };
}

async function child(o) {
  const given = await firstRows(o.input);
  let loadMs, firstMs, out, stats;
  if (o.engine === 'ours') {
    const { load } = await import('../src/index.js');
    const bytes = new Uint8Array(await readFile(o.wasm));
    let t = performance.now();
    const model = await load(bytes);
    loadMs = performance.now() - t;
    const names = model.metadata().inputs.map((i) => i.name);
    const inputs = Object.fromEntries(Object.entries(given).map(([k, v]) => [k || names[0], v]));
    t = performance.now();
    const result = await model.infer(inputs);
    firstMs = performance.now() - t;
    out = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Array.from(v.data, Number)]));
    stats = await timed(o, () => model.infer(inputs));
  } else {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    if ('simd' in ort.env.wasm) ort.env.wasm.simd = true;
    ort.env.logLevel = 'error';
    const bytes = new Uint8Array(await readFile(o.onnx));
    let t = performance.now();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    loadMs = performance.now() - t;
    const feeds = Object.fromEntries(Object.entries(given).map(([k, v]) =>
      [k || session.inputNames[0], new ort.Tensor(ORT_TYPE[v.dtype], v.data, v.shape)]));
    t = performance.now();
    const result = await session.run(feeds);
    firstMs = performance.now() - t;
    out = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Array.from(v.data, Number)]));
    stats = await timed(o, () => session.run(feeds));
  }
  process.stdout.write(JSON.stringify({ loadMs, firstMs, medianMs: median(stats.times), minMs: Math.min(...stats.times), runs: stats.times.length, cpuMs: stats.cpuMs, out }));
}

// The largest |a - b| over every output both engines return.
function maxAbsDiff(a, b) {
  let max = 0;
  for (const [name, xs] of Object.entries(a)) {
    const ys = b[name];
    if (!ys || ys.length !== xs.length) return NaN;
    for (let i = 0; i < xs.length; i++) max = Math.max(max, Math.abs(xs[i] - ys[i]));
  }
  return max;
}

async function sizeOf(files) {
  let raw = 0, gz = 0;
  for (const f of files) {
    const b = await readFile(f);
    raw += b.length;
    gz += gzipSync(b, { level: 9 }).length;
  }
  return { raw, gz, files: files.map((f) => f.replace(`${WEB}/`, 'web/')) };
}

async function shipped(o) {
  const shim = join(WEB, 'node_modules/@bytecodealliance/preview2-shim/dist/browser');
  // ours: the packed component (what model.json points at: core modules + component glue), the
  // transpiled JS glue, the package's JS, and the browser shim modules the glue's imports load.
  const { parseComponent } = await import('../src/component.js');
  const comp = new Uint8Array(await readFile(o.wasm));
  const { coreModules } = await parseComponent(comp);
  const coreBytes = coreModules.reduce((n, m) => n + m.length, 0);
  const ourJs = ['dist/glue/component.js', 'src/index.js', 'src/component.js', 'src/wasi.js', 'src/update.js'].map((f) => join(WEB, f));
  // cli, clocks, io, random and what they import (browser build)
  const shimFiles = ['cli.js', 'clocks.js', 'io.js', 'random.js', 'common.js', 'environment.js', 'config.js'].map((f) => join(shim, f));
  const ours = { component: await sizeOf([o.wasm]), js: await sizeOf([...ourJs, ...shimFiles]), coreBytes };
  // onnxruntime-web, wasm-only browser build: its ESM entry, the emscripten loader, the SIMD wasm;
  // plus the .onnx model it needs beside.
  const ortDist = join(WEB, 'node_modules/onnxruntime-web/dist');
  const ort = {
    runtime: await sizeOf([join(ortDist, 'ort-wasm-simd-threaded.wasm')]),
    js: await sizeOf([join(ortDist, 'ort.wasm.min.mjs'), join(ortDist, 'ort-wasm-simd-threaded.mjs')]),
    model: await sizeOf([o.onnx]),
  };
  return { ours, ort };
}

async function main() {
  const o = args();
  if (o.engine) return child(o);
  for (const k of ['wasm', 'onnx']) if (!o[k]) throw new Error(`--${k} is required`);
  if (!o.input.length) throw new Error('--input NAME=FILE.npy is required (once per model input)');
  const results = {};
  const raw = { ours: [], ort: [] };
  const errors = {};
  const childArgs = ['--wasm', o.wasm, '--onnx', o.onnx, ...o.input.flatMap((i) => ['--input', i]),
    ...['runs', 'warmup', 'warmup-ms', 'runs-ms'].flatMap((k) => [`--${k}`, String(o[k])])];
  for (let p = 0; p < o.procs; p++) {
    for (const engine of ['ours', 'ort']) { // interleaved: both see the same machine load
      if (errors[engine]) continue;
      try {
        // Node's own flags too (e.g. --experimental-wasm-relaxed-simd, which Node 20 needs).
        const stdout = execFileSync(process.execPath,
          [...process.execArgv, fileURLToPath(import.meta.url), '--engine', engine, ...childArgs],
          { timeout: 600_000, maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
        raw[engine].push(JSON.parse(stdout));
      } catch (e) {
        // onnxruntime-web lacks some operators (the ai.onnx.ml domain): say so, keep the row.
        const lines = String(e.stderr ?? e.message).split('\n').filter((l) => /error/i.test(l));
        errors[engine] = (lines[0] ?? String(e.message)).trim().slice(0, 200);
      }
    }
  }
  for (const [engine, runs] of Object.entries(raw)) {
    if (!runs.length) continue;
    results[engine] = {
      loadMs: median(runs.map((r) => r.loadMs)), firstMs: median(runs.map((r) => r.firstMs)),
      toFirstMs: median(runs.map((r) => r.loadMs + r.firstMs)),
      medianMs: median(runs.map((r) => r.medianMs)), minMs: Math.min(...runs.map((r) => r.minMs)),
      cpuMs: median(runs.map((r) => r.cpuMs)),
      out: runs[0].out, procs: runs.length, runs: median(runs.map((r) => r.runs)), perProcess: runs.map(({ out, ...r }) => r),
    };
  }
  const diff = results.ours && results.ort ? maxAbsDiff(results.ours.out, results.ort.out) : NaN;
  if (o.tableRow) return printRow(o, results, errors, diff);
  if (!results.ours || !results.ort) throw new Error(`an engine failed: ${JSON.stringify(errors)}`);
  const bytes = await shipped(o);
  const env = {
    node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    ort: JSON.parse(await readFile(join(WEB, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version,
    jco: JSON.parse(await readFile(join(WEB, 'node_modules/@bytecodealliance/jco-transpile/package.json'), 'utf8')).version,
    date: new Date().toISOString(),
  };
  const all = { env, results, maxAbsDiff: diff, bytes };
  if (o.json) await writeFile(o.json, JSON.stringify(all, null, 2) + '\n');
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  const f = (n) => `${n.toFixed(1)} ms`;
  const oursTotal = bytes.ours.component.gz + bytes.ours.js.gz;
  const ortTotal = bytes.ort.runtime.gz + bytes.ort.js.gz + bytes.ort.model.gz;
  const rows = [
    '| | @edgeinfer/web | onnxruntime-web (wasm, SIMD, 1 thread) |',
    '|---|---:|---:|',
    `| load (bytes in memory → ready) | ${f(results.ours.loadMs)} | ${f(results.ort.loadMs)} |`,
    `| first inference | ${f(results.ours.firstMs)} | ${f(results.ort.firstMs)} |`,
    `| load + first inference | ${f(results.ours.toFirstMs)} | ${f(results.ort.toFirstMs)} |`,
    `| median inference (${results.ours.runs} runs after ${o.warmup} warm-up, × ${o.procs} processes) | ${f(results.ours.medianMs)} | ${f(results.ort.medianMs)} |`,
    `| CPU time per inference (user+sys, mean) | ${f(results.ours.cpuMs)} | ${f(results.ort.cpuMs)} |`,
    `| fastest inference | ${f(results.ours.minMs)} | ${f(results.ort.minMs)} |`,
    `| wasm shipped, gzipped (raw) | ${mb(bytes.ours.component.gz)} (${mb(bytes.ours.component.raw)}) component, model inside | ${mb(bytes.ort.runtime.gz)} (${mb(bytes.ort.runtime.raw)}) + model ${mb(bytes.ort.model.gz)} (${mb(bytes.ort.model.raw)}) |`,
    `| JS shipped, gzipped (raw) | ${mb(bytes.ours.js.gz)} (${mb(bytes.ours.js.raw)}) | ${mb(bytes.ort.js.gz)} (${mb(bytes.ort.js.raw)}) |`,
    `| **total shipped, gzipped** | **${mb(oursTotal)}** | **${mb(ortTotal)}** |`,
  ];
  console.log(rows.join('\n'));
  console.log(`\noutputs: max |diff| over ${Object.keys(results.ours.out).join(', ')}: ${diff.toExponential(2)}`);
  console.log(`env: node ${env.node}, onnxruntime-web ${env.ort}, jco-transpile ${env.jco}, ${env.cpus} × ${env.cpu}, load average ${env.loadavg}`);
  console.log(`size ratio (ours / ort, gzipped total): ${(oursTotal / ortTotal).toFixed(2)}; median speed ratio (ort / ours): ${(results.ort.medianMs / results.ours.medianMs).toFixed(2)}; CPU ratio (ort / ours): ${(results.ort.cpuMs / results.ours.cpuMs).toFixed(2)}`);
}

// One markdown row for a panel table (web/bench/run.sh --panel).
function printRow(o, results, errors, diff) {
  const ms = (r, k) => (r ? (r[k] < 10 ? r[k].toPrecision(3) : r[k].toFixed(1)) : '');
  const { ours, ort } = results;
  const ratio = ours && ort ? `${(ort.medianMs / ours.medianMs).toFixed(2)}x` : '';
  const start = ours && ort ? `${(ort.toFirstMs / ours.toFirstMs).toFixed(1)}x` : '';
  const note = Object.entries(errors).map(([e, m]) => `${e === 'ort' ? 'onnxruntime-web' : 'edgeinfer'}: ${m.replace(/\|/g, '/')}`).join('; ');
  console.log(`| ${o.name ?? o.wasm} | ${ms(ours, 'medianMs')} | ${ms(ort, 'medianMs')} | ${ratio} | ${ms(ours, 'toFirstMs')} | ${ms(ort, 'toFirstMs')} | ${start} | ${Number.isNaN(diff) ? '' : diff.toExponential(1)} | ${note} |`);
}

main().catch((e) => { console.error(e); process.exit(1); });
