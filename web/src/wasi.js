// WASI imports for a transpiled (instantiation: async) component, from
// @bytecodealliance/preview2-shim. Only the shim modules the component imports are loaded. The
// specifiers are literal so bundlers and browser import maps see them; in Node the package's
// "exports" pick dist/nodejs/*, in a browser the import map points them at dist/browser/*.

const SHIMS = {
  cli: () => import('@bytecodealliance/preview2-shim/cli'),
  clocks: () => import('@bytecodealliance/preview2-shim/clocks'),
  filesystem: () => import('@bytecodealliance/preview2-shim/filesystem'),
  http: () => import('@bytecodealliance/preview2-shim/http'),
  io: () => import('@bytecodealliance/preview2-shim/io'),
  random: () => import('@bytecodealliance/preview2-shim/random'),
  sockets: () => import('@bytecodealliance/preview2-shim/sockets'),
};

const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

// The model sees no host environment, arguments or working directory.
const SANDBOX = {
  'wasi:cli/environment': {
    getEnvironment: () => [],
    getArguments: () => ['edgeinfer'],
    initialCwd: () => undefined,
  },
};

/** Builds the import object for the glue's import list, e.g. ['wasi:cli/exit', 'wasi:io/streams']. */
export async function wasiImports(names) {
  const imports = {};
  for (const full of names) {
    const name = full.replace(/@.*$/, '');
    if (SANDBOX[name]) { imports[full] = SANDBOX[name]; continue; }
    const m = /^wasi:([a-z0-9-]+)\/([a-z0-9-]+)$/.exec(name);
    if (!m) throw new Error(`the component imports ${full}, which edgeinfer/web cannot provide`);
    const load = SHIMS[m[1]];
    if (!load) throw new Error(`no preview2-shim module for ${full}`);
    const mod = await load();
    const iface = mod[camel(m[2])];
    if (!iface) throw new Error(`@bytecodealliance/preview2-shim/${m[1]} has no ${camel(m[2])} (for ${full})`);
    imports[full] = iface;
  }
  return imports;
}
