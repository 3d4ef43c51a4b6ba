// Builds the npm package `overt` into OUTDIR (default ./dist) with node's built-ins only:
// the snippet bundle is ../../static/overt.js itself (what `make snippet` built from
// ../src/overt.js and the collector serves), beside the module, its types and the README.
// `npm pack OUTDIR` then makes the tarball; nothing is fetched.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
mkdirSync(out, { recursive: true });
copyFileSync(join(here, '..', '..', 'static', 'overt.js'), join(out, 'overt.js'));
for (const name of ['package.json', 'index.js', 'index.d.ts', 'README.md']) {
  copyFileSync(join(here, name), join(out, name));
}
