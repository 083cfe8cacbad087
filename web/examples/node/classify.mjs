#!/usr/bin/env node
// Embedding example: classify text-line orientation with a packed PP-OCR cls model in Node.
//   node examples/node/classify.mjs ppocr-cls.wasm x.npy     (x: [N,3,48,192] float32)
import { readFile } from 'node:fs/promises';
import { load } from '@edgeinfer/web';
import { readNpy } from '@edgeinfer/web/npy';

const [modelPath, inputPath] = process.argv.slice(2);
if (!modelPath || !inputPath) {
  console.error('usage: classify.mjs model.wasm x.npy');
  process.exit(2);
}
const model = await load(modelPath);
const { name, version, inputs, outputs } = model.metadata();
console.log(`${name} ${version}: loaded in ${model.loadMs.toFixed(0)} ms`);

const x = readNpy(await readFile(inputPath));
const [n, ...row] = x.shape;
const per = row.reduce((a, b) => a * b, 1);
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const out = await model.infer({ [inputs[0].name]: { data: x.data.subarray(i * per, (i + 1) * per), shape: [1, ...row] } });
  const p = out[outputs[0].name].data;
  const k = p[1] > p[0] ? 1 : 0;
  console.log(`row ${i}: ${['0', '180'][k]} (p=${p[k].toFixed(4)}, ${(performance.now() - t0).toFixed(1)} ms)`);
}
