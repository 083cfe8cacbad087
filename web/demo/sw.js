// Service worker: keeps the demo's page, scripts and WASI shims for offline use (network first,
// cache as fallback). Models and manifests are not touched here: @edgeinfer/web verifies and
// caches those itself (Cache API "edgeinfer-models").
const CACHE = 'edgeinfer-demo-shell-v1';
const SHIM = '../node_modules/@bytecodealliance/preview2-shim/dist/browser/';
const SHELL = [
  './', 'index.html', 'style.css', 'app.js',
  '../src/index.js', '../src/component.js', '../src/wasi.js', '../src/update.js',
  '../dist/glue/component.js',
  ...['cli', 'clocks', 'io', 'random', 'common', 'environment', 'config'].map((m) => `${SHIM}${m}.js`),
];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  if (/\.(wasm|json)$/.test(url.pathname) || url.pathname.includes('/models/')) return; // the package's business
  e.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(e.request);
      if (res.ok) await cache.put(e.request, res.clone());
      return res;
    } catch (err) {
      const hit = await cache.match(e.request, { ignoreSearch: true });
      if (hit) return hit;
      throw err;
    }
  })());
});
