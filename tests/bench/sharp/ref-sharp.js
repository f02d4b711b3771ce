#!/usr/bin/env node
// ref-sharp: ref-libvips' naive loop (tests/bench/ref_libvips.cc) done by sharp,
// Node's libvips binding, with the libvips it bundles.
//
//   node ref-sharp.js [--concurrency N] [--passes P] DIR
//
// Per file, each rendition decoding the original again (naive):
//   display:   fit inside 1600x1600, never upscale, WebP Q80 effort 2, no
//              metadata; a GIF keeps all its frames (animated);
//   thumbnail: fit inside 256x256, never upscale, first frame only, same WebP.
// failOn 'error', no input pixel limit, EXIF orientation applied (libvips'
// thumbnail and the service do that), libvips operation cache off and one
// libvips thread per image (sharp.concurrency(1)); N files in flight (default
// 2) on a libuv pool of N threads. All files are read into memory first; only
// the rendering is timed. Prints files/s and MB/s (MB of originals, 10^6
// bytes) in ref-libvips' format; exits 1 if any file failed.
'use strict';

function usage() {
  process.stderr.write('usage: node ref-sharp.js [--concurrency N] [--passes P] DIR\n');
  process.exit(2);
}

let concurrency = 2;
let passes = 1;
let dir = '';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  const a = argv[i];
  const value = () => {
    if (i + 1 >= argv.length) usage();
    const n = Number.parseInt(argv[++i], 10);
    if (!(n >= 1)) usage();
    return n;
  };
  if (a === '--concurrency') concurrency = value();
  else if (a === '--passes') passes = value();
  else if (a.startsWith('--') || dir !== '') usage();
  else dir = a;
}
if (dir === '') usage();

// sharp renders on libuv's thread pool, sized when the pool first starts:
// before sharp is loaded.
process.env.UV_THREADPOOL_SIZE = String(concurrency);

const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');

sharp.cache(false);
sharp.concurrency(1);

const names = fs.readdirSync(dir, { withFileTypes: true })
  .filter((e) => e.isFile())
  .map((e) => path.join(dir, e.name))
  .sort();
const inputs = names.map((name) => ({ name, bytes: fs.readFileSync(name) }));
if (inputs.length === 0) {
  process.stderr.write('no input files\n');
  process.exit(2);
}

const isGif = (b) => b.length >= 4 && b.toString('latin1', 0, 4) === 'GIF8';

// One rendition, decoding the original.
async function rendition(bytes, box, animated) {
  const out = await sharp(bytes, {
    failOn: 'error',
    limitInputPixels: false,
    autoOrient: true,
    animated,
  })
    .resize({ width: box, height: box, fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80, effort: 2 })
    .toBuffer();
  return out.length;
}

async function main() {
  const total = inputs.length * passes;
  let next = 0;
  let errors = 0;
  let inBytes = 0;
  let outBytes = 0;
  const worker = async () => {
    for (let i; (i = next++) < total;) {
      const input = inputs[i % inputs.length];
      try {
        // Both awaited before the shared total is read: `outBytes += await f()`
        // would read it before the await and lose the other workers' additions.
        const display = await rendition(input.bytes, 1600, isGif(input.bytes));
        const thumbnail = await rendition(input.bytes, 256, false);
        outBytes += display + thumbnail;
        inBytes += input.bytes.length;
      } catch (e) {
        ++errors;
        process.stderr.write(`ref-sharp: ${input.name}: ${e.message}\n`);
      }
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;

  console.log(`ref-sharp: sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);
  console.log(`ref-sharp: concurrency=${concurrency} files=${total} errors=${errors} ` +
    `seconds=${secs.toFixed(3)}`);
  console.log(`ref-sharp: files/s=${((total - errors) / secs).toFixed(2)} ` +
    `MB/s=${(inBytes / 1e6 / secs).toFixed(2)} (MB of originals) preview_bytes=${outBytes}`);
  process.exitCode = errors === 0 ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`ref-sharp: ${e.stack || e}\n`);
  process.exit(1);
});
