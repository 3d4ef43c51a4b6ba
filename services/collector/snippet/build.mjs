// Builds the served snippet: `node build.mjs [OUTFILE]` (default ../static/overt.js).
// The output is committed; a test rebuilds it and checks it is byte-identical.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/overt.js'],
  outfile: process.argv[2] || '../static/overt.js',
  minify: true,
  target: 'es2017',
  legalComments: 'none',
  banner: { js: '/* Overt snippet; source: services/collector/snippet */' },
  logLevel: 'warning',
});
