#!/usr/bin/env node
// npm `bin` launcher: the sources are TypeScript run directly by Node 24.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`breakwater needs Node.js 24 or newer (this is ${process.version}); run it with "npm start" or the single executable dist/breakwater\n`);
  process.exit(1);
}
await import('../src/main.ts');
