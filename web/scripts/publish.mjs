#!/usr/bin/env node
// Publishes a packed model for edge updates: copies it to <dir>/<name>-<version>.wasm and writes
// <dir>/model.json = {name, version, sha256, url}. Name and version are read from the model
// itself (set them at pack time: edgeinfer pack model.onnx --name N --version V).
//
//   node scripts/publish.mjs model.wasm -o site/models [--manifest model.json]
//
// Upload the .wasm first and model.json last: clients only switch once model.json announces a
// version whose download hashes to its sha256.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/index.js';

export async function publish(input, outDir, manifestName = 'model.json') {
  const bytes = await readFile(input);
  const model = await load(new Uint8Array(bytes));
  const { name, version } = model.metadata();
  const file = `${name}-${version}.wasm`.replace(/[^A-Za-z0-9._-]/g, '_');
  await mkdir(outDir, { recursive: true });
  if (resolve(input) !== resolve(join(outDir, file))) await copyFile(input, join(outDir, file));
  const manifest = { name, version, sha256: createHash('sha256').update(bytes).digest('hex'), url: file };
  const tmp = join(outDir, `.${manifestName}.tmp`);
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(tmp, join(outDir, manifestName));
  return manifest;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let input, out, manifestName = 'model.json';
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-o') out = args[++i];
    else if (args[i] === '--manifest') manifestName = args[++i];
    else input = args[i];
  }
  if (!input || !out) {
    console.error('usage: node scripts/publish.mjs model.wasm -o dir [--manifest model.json]');
    process.exit(2);
  }
  try {
    const m = await publish(input, out, manifestName);
    console.log(`publish: ${basename(input)} -> ${join(out, m.url)}, ${join(out, manifestName)} (${m.name} ${m.version}, sha256 ${m.sha256})`);
  } catch (e) {
    console.error(`publish: ${e.message}`);
    process.exit(1);
  }
}
