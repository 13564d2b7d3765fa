// node bench/fill-unread-arrays.mjs DIR…: in each prepared folder (onerec prepare --out), every array prepared.json
// names that is missing (bench/seed-device.sh pack leaves out the ones the seed model and the baseline never read)
// becomes a sparse file of its full size, so that loadPrepared's size checks pass without the bytes travelling.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const BYTES = { u8: 1, u16: 2, i32: 4, f32: 4, f64: 8 };
for (const dir of process.argv.slice(2)) {
  if (!existsSync(join(dir, 'prepared.json'))) continue;
  const { arrays } = JSON.parse(readFileSync(join(dir, 'prepared.json'), 'utf8'));
  for (const a of Object.values(arrays)) {
    const file = join(dir, a.file);
    if (existsSync(file)) continue;
    const fd = openSync(file, 'w');
    ftruncateSync(fd, a.shape.reduce((x, y) => x * y, 1) * BYTES[a.dtype]);
    closeSync(fd);
  }
}
