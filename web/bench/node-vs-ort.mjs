#!/usr/bin/env node
// Benchmark (not a test): the same PP-OCR cls model and input through @edgeinfer/web and through
// onnxruntime-web (wasm backend, SIMD build, numThreads=1), in Node. Each engine runs in fresh
// child processes (cold loads are not helped by the other engine or an earlier run); the figures
// are medians over the processes.
//
//   node bench/node-vs-ort.mjs --wasm ppocr-cls.wasm --onnx model.onnx --input x.npy [--runs 100] [--procs 5] [--json out.json]
//
// load: model bytes in memory -> ready to infer (compile + instantiate; for ort, creating the
// session, which also initializes its wasm runtime). first: the first inference. median: the
// median of `runs` further inferences after `warmup` (300) untimed
// ones: V8 tiers hot wasm functions up to TurboFan in background threads, which takes ~100
// inferences here and inflates earlier timings (steady state is what is measured). CPU: user+sys
// time of the process over the timed runs divided by their number. Bytes shipped: what a web
// page downloads, raw and gzipped.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import os from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = join(HERE, '..');
const OUT = 'save_infer_model/scale_0.tmp_1';

function args() {
  const a = process.argv.slice(2);
  const o = { runs: 100, procs: 5, warmup: 300 };
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    o[k] = a[++i];
  }
  o.runs = Number(o.runs);
  o.procs = Number(o.procs);
  o.warmup = Number(o.warmup);
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function firstRow(path) {
  const { readNpy } = await import('../src/npy.js');
  const x = readNpy(await readFile(path));
  const n = 3 * 48 * 192;
  return x.data.slice(0, n);
}

async function child(o) {
  const x = await firstRow(o.input);
  const times = [];
  let loadMs, firstMs, out, cpu0, cpu;
  if (o.engine === 'ours') {
    const { load } = await import('../src/index.js');
    const bytes = new Uint8Array(await readFile(o.wasm));
    let t = performance.now();
    const model = await load(bytes);
    loadMs = performance.now() - t;
    t = performance.now();
    out = (await model.infer({ x }))[OUT].data;
    firstMs = performance.now() - t;
    for (let i = 0; i < o.warmup; i++) await model.infer({ x });
    cpu0 = process.cpuUsage();
    for (let i = 0; i < o.runs; i++) {
      t = performance.now();
      await model.infer({ x });
      times.push(performance.now() - t);
    }
    cpu = process.cpuUsage(cpu0);
  } else {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    if ('simd' in ort.env.wasm) ort.env.wasm.simd = true;
    ort.env.logLevel = 'error';
    const bytes = new Uint8Array(await readFile(o.onnx));
    let t = performance.now();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    loadMs = performance.now() - t;
    const feeds = { x: new ort.Tensor('float32', x, [1, 3, 48, 192]) };
    t = performance.now();
    out = (await session.run(feeds))[OUT].data;
    firstMs = performance.now() - t;
    for (let i = 0; i < o.warmup; i++) await session.run(feeds);
    cpu0 = process.cpuUsage();
    for (let i = 0; i < o.runs; i++) {
      t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    cpu = process.cpuUsage(cpu0);
  }
  process.stdout.write(JSON.stringify({ loadMs, firstMs, medianMs: median(times), minMs: Math.min(...times), cpuMs: (cpu.user + cpu.system) / 1000 / o.runs, out: Array.from(out) }));
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
  for (const k of ['wasm', 'onnx', 'input']) if (!o[k]) throw new Error(`--${k} is required`);
  const results = {};
  const raw = { ours: [], ort: [] };
  for (let p = 0; p < o.procs; p++) {
    for (const engine of ['ours', 'ort']) { // interleaved: both see the same machine load
      const stdout = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--engine', engine, '--wasm', o.wasm, '--onnx', o.onnx, '--input', o.input, '--runs', String(o.runs), '--warmup', String(o.warmup)], { timeout: 300_000, maxBuffer: 1 << 20 });
      raw[engine].push(JSON.parse(stdout));
    }
  }
  for (const [engine, runs] of Object.entries(raw)) {
    results[engine] = {
      loadMs: median(runs.map((r) => r.loadMs)), firstMs: median(runs.map((r) => r.firstMs)),
      toFirstMs: median(runs.map((r) => r.loadMs + r.firstMs)),
      medianMs: median(runs.map((r) => r.medianMs)), minMs: Math.min(...runs.map((r) => r.minMs)),
      cpuMs: median(runs.map((r) => r.cpuMs)),
      out: runs[0].out, procs: runs.length, runs: o.runs, perProcess: runs.map(({ out, ...r }) => r),
    };
  }
  const diff = Math.max(...results.ours.out.map((v, i) => Math.abs(v - results.ort.out[i])));
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
    `| median inference (${o.runs} runs after ${o.warmup} warm-up, × ${o.procs} processes) | ${f(results.ours.medianMs)} | ${f(results.ort.medianMs)} |`,
    `| CPU time per inference (user+sys, mean) | ${f(results.ours.cpuMs)} | ${f(results.ort.cpuMs)} |`,
    `| fastest inference | ${f(results.ours.minMs)} | ${f(results.ort.minMs)} |`,
    `| wasm shipped, gzipped (raw) | ${mb(bytes.ours.component.gz)} (${mb(bytes.ours.component.raw)}) component, model inside | ${mb(bytes.ort.runtime.gz)} (${mb(bytes.ort.runtime.raw)}) + model ${mb(bytes.ort.model.gz)} (${mb(bytes.ort.model.raw)}) |`,
    `| JS shipped, gzipped (raw) | ${mb(bytes.ours.js.gz)} (${mb(bytes.ours.js.raw)}) | ${mb(bytes.ort.js.gz)} (${mb(bytes.ort.js.raw)}) |`,
    `| **total shipped, gzipped** | **${mb(oursTotal)}** | **${mb(ortTotal)}** |`,
  ];
  console.log(rows.join('\n'));
  console.log(`\noutputs: ours ${results.ours.out.map((v) => v.toExponential(4)).join(', ')}; ort ${results.ort.out.map((v) => v.toExponential(4)).join(', ')}; max |diff| ${diff.toExponential(2)}`);
  console.log(`env: node ${env.node}, onnxruntime-web ${env.ort}, jco-transpile ${env.jco}, ${env.cpus} × ${env.cpu}, load average ${env.loadavg}`);
  console.log(`size ratio (ours / ort, gzipped total): ${(oursTotal / ortTotal).toFixed(2)}; median speed ratio (ort / ours): ${(results.ort.medianMs / results.ours.medianMs).toFixed(2)}; CPU ratio (ort / ours): ${(results.ort.cpuMs / results.ours.cpuMs).toFixed(2)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
