// The npm package as a user gets it: `npm pack` this folder, install the tarball into a fresh
// project (offline: the package has no dependencies), import it by name from Node, and compile
// test/types/usage.ts with `tsc --noEmit --strict` against the installed copy, its types found
// through package.json `exports`. Every runtime export must be declared and used in usage.ts.
// Run by ctest as sdk_js_package (label sdk); needs node, npm and this folder's devDependencies
// (typescript), which scripts/setup.sh --test installs.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const usageFile = path.join(pkgDir, 'test', 'types', 'usage.ts');
const npm = process.env.NPM || 'npm';

// What index.js exports; a change here is a change of the package's public API.
const kExports = [
  'AuthenticationError', 'CLOSE_CODES', 'CloseCode', 'DreamStreamError', 'Streamer', 'VideoPlayer', 'Viewer',
  'canDecodeVideo', 'captureFrames', 'closeMeaning', 'createApi', 'isJpeg', 'postFrame', 'renderViewer', 'runWorker',
  'splitInlineFrame', 'splitInlineMessage', 'streamCamera',
];

let ts;
let work;
let app;
let tarball;

before(async () => {
  const tsPath = path.join(pkgDir, 'node_modules', 'typescript');
  assert.ok(existsSync(tsPath), `no ${tsPath}: run scripts/setup.sh --test (or npm ci in clients/js)`);
  ts = createRequire(path.join(pkgDir, 'package.json'))('typescript');
  work = await mkdtemp(path.join(tmpdir(), 'ds-sdk-pack-'));
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', work], { cwd: pkgDir });
  const [packed] = JSON.parse(stdout);
  tarball = { file: path.join(work, packed.filename), files: packed.files.map((f) => f.path).sort() };
  app = path.join(work, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball.file], { cwd: app });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('the tarball holds the modules, their declarations, the README and nothing else', async () => {
  const pkg = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'dreamstream');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.engines.node, '>=20');
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  assert.deepEqual(tarball.files, [...pkg.files, 'package.json'].sort());
  assert.ok(path.basename(tarball.file).startsWith(`dreamstream-${pkg.version}`));
});

test('Node imports the installed package by name, and only its exported paths', async () => {
  const script = `
    import * as ds from 'dreamstream';
    import * as capture from 'dreamstream/capture';
    import * as render from 'dreamstream/render';
    import * as video from 'dreamstream/video';
    import * as client from 'dreamstream/client';
    import { createRequire } from 'node:module';
    const out = {
      resolved: import.meta.resolve('dreamstream'),
      names: Object.keys(ds).sort(),
      types: Object.fromEntries(Object.entries(ds).map(([k, v]) => [k, typeof v])),
      sameCapture: capture.captureFrames === ds.captureFrames && capture.streamCamera === ds.streamCamera,
      sameRender: render.renderViewer === ds.renderViewer,
      sameVideo: video.VideoPlayer === ds.VideoPlayer && video.canDecodeVideo === ds.canDecodeVideo,
      // Node has no WebCodecs: the page falls back to JPEG.
      nodeDecodesVideo: await ds.canDecodeVideo(),
      sameClient: client.Streamer === ds.Streamer,
      noCredits: ds.CloseCode.no_credits,
      meaning: ds.closeMeaning(4402),
    };
    try { ds.captureFrames({}, {}); } catch (e) { out.captureError = e.constructor.name; }
    try { await import('dreamstream/test/package.test.mjs'); } catch (e) { out.privatePath = e.code; }
    console.log(JSON.stringify(out));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
  const out = JSON.parse(stdout);
  assert.ok(out.resolved.includes('/app/node_modules/dreamstream/'), `resolved from the install: ${out.resolved}`);
  assert.deepEqual(out.names, [...kExports].sort());
  for (const name of ['createApi', 'postFrame', 'closeMeaning', 'isJpeg', 'splitInlineFrame', 'runWorker',
                      'captureFrames', 'streamCamera', 'renderViewer', 'Streamer', 'Viewer', 'VideoPlayer',
                      'canDecodeVideo', 'splitInlineMessage']) {
    assert.equal(out.types[name], 'function', name);
  }
  assert.ok(out.sameCapture && out.sameRender && out.sameClient && out.sameVideo, 'subpath exports are the same modules');
  assert.equal(out.nodeDecodesVideo, false);
  assert.equal(out.noCredits, 4402);
  assert.equal(out.meaning, 'not enough credits');
  assert.equal(out.captureError, 'TypeError', 'captureFrames without onFrame is refused');
  assert.equal(out.privatePath, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});

// tsc over usage.ts copied into the app, as a user's project would compile it (once per mode).
const compiled = new Map();
async function compile(moduleResolution) {
  if (compiled.has(moduleResolution)) return compiled.get(moduleResolution);
  await copyFile(usageFile, path.join(app, 'usage.ts'));
  const module = moduleResolution === 'bundler' ? ts.ModuleKind.ESNext : ts.ModuleKind.NodeNext;
  const options = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module,
    moduleResolution: moduleResolution === 'bundler' ? ts.ModuleResolutionKind.Bundler : ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts', 'lib.dom.asynciterable.d.ts'], types: [],
  };
  const program = ts.createProgram([path.join(app, 'usage.ts')], options);
  const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  compiled.set(moduleResolution, { program, errors });
  return compiled.get(moduleResolution);
}

test('tsc --noEmit --strict compiles the typed usage file against the installed package', async () => {
  for (const resolution of ['nodenext', 'bundler']) {
    const { program, errors } = await compile(resolution);
    assert.deepEqual(errors, [], `${resolution}: ${errors.join('\n')}`);
    const dts = program.getSourceFiles().map((f) => f.fileName).filter((f) => f.includes('dreamstream'));
    for (const name of ['index.d.ts', 'dreamstream.d.ts', 'capture.d.ts', 'render.d.ts', 'video.d.ts']) {
      assert.ok(dts.some((f) => f.endsWith(`/app/node_modules/dreamstream/${name}`)), `${resolution}: ${name} from the install`);
    }
  }
});

test('every runtime export is declared, every declared value exists, and usage.ts uses each one', async () => {
  const { program } = await compile('nodenext');
  const checker = program.getTypeChecker();
  const entry = program.getSourceFiles().find((f) => f.fileName.endsWith('/node_modules/dreamstream/index.d.ts'));
  const declared = checker.getExportsOfModule(checker.getSymbolAtLocation(entry))
    .filter((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return target.flags & ts.SymbolFlags.Value;
    })
    .map((s) => s.name)
    .sort();
  assert.deepEqual(declared, [...kExports].sort());
  const usage = await readFile(usageFile, 'utf8');
  for (const name of kExports) assert.match(usage, new RegExp(`\\b${name}\\(|\\b${name}\\b[.\\[]|new ${name}\\b|instanceof ${name}\\b`), `usage.ts uses ${name}`);
});
