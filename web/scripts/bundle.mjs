#!/usr/bin/env node
// Turns a packed edgeinfer model component (.wasm) into a browser/Node bundle:
//
//   node scripts/bundle.mjs model.wasm -o outdir [--glue-only] [--no-minify] [--no-cache]
//
// outdir gets
//   component.js          the JS glue from `jco transpile --instantiation async` (no WASI
//                         imports baked in: the package passes preview2-shim at load time)
//   component.coreN.wasm  the component's core modules (not with --glue-only)
//   bundle.json           {format, fingerprint, coreModules, imports, component: {sha256, bytes}}
//
// The glue depends only on the component's shape (its imports, exports and types), not on the
// model inside it. `fingerprint` is the sha256 of the component with its top-level core modules
// and custom sections left out: every model packed by the same edgeinfer guest has the same
// fingerprint, so one glue runs them all (load() checks this). Transpiles are cached under
// web/.cache/transpile/<sha256 of the .wasm>/.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, rm, rename, readdir, copyFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseComponent } from '../src/component.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CACHE = process.env.EDGEINFER_WEB_CACHE ?? join(HERE, '..', '.cache', 'transpile');
const NAME = 'component';
const FORMAT = 1;

function usage(msg) {
  if (msg) console.error(`bundle: ${msg}`);
  console.error('usage: node scripts/bundle.mjs model.wasm -o outdir [--glue-only] [--no-minify] [--no-cache]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { input: null, out: null, glueOnly: false, minify: true, cache: true, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') o.out = argv[++i];
    else if (a === '--glue-only') o.glueOnly = true;
    else if (a === '--no-minify') o.minify = false;
    else if (a === '--no-cache') o.cache = false;
    else if (a === '-q' || a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (!o.input) o.input = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!o.input) usage('missing model.wasm');
  if (!o.out) usage('missing -o outdir');
  return o;
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function transpileCached(bytes, digest, { minify, cache }) {
  const dir = join(CACHE, `${digest}${minify ? '' : '-full'}`);
  if (cache && existsSync(join(dir, 'done'))) {
    return { dir, cached: true };
  }
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const r = await transpileBytes(bytes, {
    name: NAME,
    instantiation: 'async', // core modules are handed in at load time: one glue, any model
    nodejsCompat: false, // the same file runs in Node and the browser
    tlaCompat: false,
    base64Cutoff: 0, // no core module inlined into the JS: load() supplies them all
    minify,
    noComponentErrorWrapping: false, // result errors arrive as ComponentError{payload}
  });
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const [file, data] of Object.entries(r.files)) {
    if (file.includes('/')) continue; // interfaces/*.d.ts: types are in src/index.d.ts
    await writeFile(join(tmp, file), data);
  }
  await writeFile(join(tmp, 'imports.json'), JSON.stringify(r.imports));
  await writeFile(join(tmp, 'done'), '');
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return { dir, cached: false };
}

export async function bundle(input, out, { glueOnly = false, minify = true, cache = true, quiet = false } = {}) {
  const t0 = performance.now();
  const bytes = new Uint8Array(await readFile(input));
  const digest = sha256(bytes);
  const parsed = await parseComponent(bytes); // throws on a core module or a non-wasm file
  const { dir, cached } = await transpileCached(bytes, digest, { minify, cache });
  const files = await readdir(dir);
  const coreNames = parsed.coreModules.map((_, i) => `${NAME}.core${i === 0 ? '' : i + 1}.wasm`);
  // jco names the core modules in the order they appear in the component; load() relies on
  // this when it extracts them from a packed .wasm, so check it here, byte for byte.
  const jcoCores = files.filter((f) => f.endsWith('.wasm'));
  if (jcoCores.length !== coreNames.length) {
    throw new Error(`jco produced ${jcoCores.length} core modules, the component has ${coreNames.length} at top level (nested core modules are not supported)`);
  }
  for (const [i, name] of coreNames.entries()) {
    const f = await readFile(join(dir, name));
    if (sha256(f) !== sha256(parsed.coreModules[i])) throw new Error(`core module ${name} differs from the component's core module ${i}`);
  }
  const imports = JSON.parse(await readFile(join(dir, 'imports.json'), 'utf8'));
  await mkdir(out, { recursive: true });
  const glue = await readFile(join(dir, `${NAME}.js`), 'utf8');
  await writeFile(join(out, `${NAME}.js`),
    `${glue}\nexport const edgeinferFingerprint = ${JSON.stringify(parsed.fingerprint)};\nexport const edgeinferCoreModules = ${JSON.stringify(coreNames)};\nexport const edgeinferImports = ${JSON.stringify(imports)};\n`);
  if (!glueOnly) {
    for (const name of coreNames) await copyFile(join(dir, name), join(out, name));
  }
  const manifest = {
    format: FORMAT,
    glue: `${NAME}.js`,
    fingerprint: parsed.fingerprint,
    coreModules: glueOnly ? null : coreNames.map((name, i) => ({ name, bytes: parsed.coreModules[i].length })),
    imports,
    component: { sha256: digest, bytes: bytes.length, file: input.split('/').pop() },
    generator: '@bytecodealliance/jco-transpile (instantiation async)',
  };
  await writeFile(join(out, 'bundle.json'), JSON.stringify(manifest, null, 2) + '\n');
  if (!quiet) {
    const ms = Math.round(performance.now() - t0);
    console.log(`bundle: ${input} -> ${out} (${glueOnly ? 'glue only' : `${coreNames.length} core modules`}, ${cached ? 'cached transpile' : 'transpiled'}, ${ms} ms)`);
  }
  return manifest;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  try {
    await stat(o.input);
    await bundle(o.input, o.out, o);
  } catch (e) {
    console.error(`bundle: ${e.message}`);
    process.exit(1);
  }
}
