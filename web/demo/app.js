// Demo: PP-OCR text direction classifier (labels "0" / "180") fully in the browser.
import { loadFromManifest } from '@edgeinfer/web';

const H = 48, W = 192, LABELS = ['0', '180'];
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const manifestUrl = new URL(params.get('manifest') ?? 'models/model.json', location.href);
$('manifest-url').textContent = manifestUrl.pathname;

// State the end-to-end test reads (window.edgeinferDemo).
const demo = (window.edgeinferDemo = {
  ready: false, model: null, manifest: null, loadMs: null, source: null,
  image: null, lastInput: null, lastOutput: null, lastLabel: null, results: 0, updateChecks: 0, lastUpdate: null, error: null,
});

function status(text, state = 'ok') {
  $('status').textContent = text;
  $('status').dataset.state = state;
}

function showModel() {
  const md = demo.model.metadata();
  $('model-name').textContent = md.name;
  $('model-version').textContent = md.version;
  $('model-engine').textContent = `${md.engine}${md.preinitialized ? ' (pre-initialized)' : ''}`;
  $('model-source').textContent = demo.source === 'cache' ? 'offline cache' : 'network (verified, cached)';
  $('model-load').textContent = `${demo.loadMs.toFixed(0)} ms compile + instantiate` +
    (demo.totalMs ? ` (${demo.totalMs.toFixed(0)} ms with ${demo.source === 'cache' ? 'cache read' : 'download'} and SHA-256)` : '');
}

/** PaddleOCR resize_norm_img: height 48 keeping the ratio, width ≤ 192, (x/255-0.5)/0.5, CHW, zero pad right. */
function preprocess(source) {
  const w = source.width, h = source.height;
  const rw = Math.max(1, Math.min(W, Math.ceil((H * w) / h)));
  const c = document.createElement('canvas');
  c.width = rw; c.height = H;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.fillStyle = '#fff';
  g.fillRect(0, 0, rw, H);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'high';
  g.drawImage(source, 0, 0, rw, H);
  const px = g.getImageData(0, 0, rw, H).data;
  const x = new Float32Array(3 * H * W); // zero = the normalized padding
  for (let y = 0; y < H; y++) {
    for (let i = 0; i < rw; i++) {
      const p = (y * rw + i) * 4;
      for (let ch = 0; ch < 3; ch++) x[ch * H * W + y * W + i] = (px[p + ch] / 255 - 0.5) / 0.5;
    }
  }
  const prev = $('preview').getContext('2d');
  prev.fillStyle = '#808080'; // padding (0 after normalization) shown as mid grey
  prev.fillRect(0, 0, W, H);
  prev.drawImage(c, 0, 0);
  return x;
}

async function classify() {
  if (!demo.model || !demo.image) return;
  const md = demo.model.metadata();
  const x = preprocess(demo.image);
  const t0 = performance.now();
  let out;
  try {
    out = await demo.model.infer({ [md.inputs[0].name]: { data: x, shape: [1, 3, H, W] } });
  } catch (e) {
    status(`inference failed: ${e.code ?? ''} ${e.message}`, 'error');
    demo.error = e.message;
    return;
  }
  const ms = performance.now() - t0;
  const probs = out[md.outputs[0].name].data;
  const k = probs[1] > probs[0] ? 1 : 0;
  Object.assign(demo, { lastInput: x, lastOutput: Array.from(probs), lastLabel: LABELS[k], lastMs: ms });
  demo.results++;
  $('label').textContent = `${LABELS[k]}°`;
  $('confidence').textContent = `${(probs[k] * 100).toFixed(1)}%`;
  $('time').textContent = `${ms.toFixed(1)} ms`;
  const li = document.createElement('li');
  li.textContent = `${demo.imageName}: ${LABELS[k]}° (${(probs[k] * 100).toFixed(1)}%) in ${ms.toFixed(1)} ms · v${md.version}`;
  $('history').prepend(li);
}

async function useImage(blob, name) {
  try {
    demo.image = await createImageBitmap(blob);
  } catch {
    status(`${name}: not an image this browser can decode`, 'error');
    return;
  }
  demo.imageName = name;
  $('rotate').disabled = false;
  await classify();
}

function rotate180() {
  const src = demo.image;
  const c = new OffscreenCanvas(src.width, src.height);
  const g = c.getContext('2d');
  g.translate(src.width, src.height);
  g.rotate(Math.PI);
  g.drawImage(src, 0, 0);
  demo.image = c.transferToImageBitmap();
  demo.imageName = demo.imageName.endsWith(' (rotated)') ? demo.imageName.slice(0, -10) : `${demo.imageName} (rotated)`;
  return classify();
}

async function start() {
  try {
    const t0 = performance.now();
    const r = await loadFromManifest(manifestUrl);
    Object.assign(demo, { model: r.model, manifest: r.manifest, loadMs: r.model.loadMs, source: r.source, totalMs: performance.now() - t0 });
    showModel();
    if (r.rejected && !r.offline) status(`refused ${r.rejected.manifest?.version ?? 'update'}: ${r.rejected.error.message}`, 'refused');
    else status(r.offline ? 'offline: using the cached model' : 'ready');
    demo.ready = true;
    for (const id of ['update', 'sample']) $(id).disabled = false;
  } catch (e) {
    demo.error = e.message;
    status(`could not load the model: ${e.message}`, 'error');
  }
}

async function checkUpdate() {
  $('update').disabled = true;
  status('checking…', 'loading');
  try {
    const t0 = performance.now();
    const r = await loadFromManifest(manifestUrl, { current: demo.manifest });
    demo.lastUpdate = { updated: !!r.model && r.manifest.sha256 !== demo.manifest.sha256, rejected: r.rejected?.error?.message ?? null, offline: !!r.offline };
    if (r.model && r.manifest.sha256 !== demo.manifest.sha256) {
      const from = demo.manifest.version;
      Object.assign(demo, { model: r.model, manifest: r.manifest, loadMs: r.model.loadMs, source: r.source, totalMs: performance.now() - t0 });
      showModel();
      status(`updated ${from} → ${r.manifest.version} (sha256 verified)`);
      await classify();
    } else if (r.rejected && !r.offline) {
      status(`refused ${r.rejected.manifest?.version ?? 'update'}: ${r.rejected.error.message} — keeping ${demo.manifest.version}`, 'refused');
    } else {
      status(r.offline ? 'offline: keeping the cached model' : `up to date (${demo.manifest.version})`);
    }
  } catch (e) {
    demo.lastUpdate = { error: e.message };
    status(`update check failed: ${e.message}`, 'error');
  } finally {
    demo.updateChecks++;
    $('update').disabled = false;
  }
}

$('file').addEventListener('change', (e) => e.target.files[0] && useImage(e.target.files[0], e.target.files[0].name));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer.files[0];
  if (f) useImage(f, f.name);
});
$('rotate').addEventListener('click', rotate180);
$('update').addEventListener('click', checkUpdate);
$('sample').addEventListener('click', async () => {
  const res = await fetch(new URL('sample.png', manifestUrl));
  if (!res.ok) return status('no sample.png next to the manifest', 'error');
  await useImage(await res.blob(), 'sample.png');
});

// The page itself offline too: a service worker keeps the page, scripts and shims.
if ('serviceWorker' in navigator && params.get('sw') !== '0') {
  navigator.serviceWorker.register('sw.js').then(() => navigator.serviceWorker.ready).then(() => { demo.offlineReady = true; })
    .catch((e) => console.warn('service worker:', e.message));
}

start();
