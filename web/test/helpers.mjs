// Shared by the Node and browser tests: environment from web/test.sh, host inference via the CLI.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpy, writeNpy } from '../src/npy.js';

const run = promisify(execFile);

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through web/test.sh`);
  return v;
};
export const EDGEINFER = () => env('EDGEINFER');
export const CLS = () => env('CLS');
export const WORK = () => env('WORK');
export const OUTPUT = 'save_infer_model/scale_0.tmp_1';
export const OUTPUT_FILE = 'save_infer_model_scale_0.tmp_1.npy';

/** Runs `edgeinfer infer model -i x=<tensor> -o dir --json` and returns its outputs {name: {data, shape}}. */
export async function hostInfer(model, inputs) {
  const dir = await mkdtemp(join(tmpdir(), 'edgeinfer-host-'));
  const args = ['infer', model, '-o', join(dir, 'out'), '--json'];
  for (const [name, t] of Object.entries(inputs)) {
    const f = join(dir, `${name}.npy`);
    await writeFile(f, writeNpy(t));
    args.push('-i', `${name}=${f}`);
  }
  const { stdout } = await run(EDGEINFER(), args, { timeout: 60_000, maxBuffer: 16 << 20 });
  const report = JSON.parse(stdout);
  const out = {};
  for (const o of report.outputs) out[o.name] = readNpy(await readFile(o.file));
  return out;
}

export async function loadNpy(path) {
  return readNpy(await readFile(path));
}

/** Largest absolute difference; throws on a shape or length mismatch. */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
