// `npm test`: every tests/**/*.test.ts under node's test runner, TypeScript through tsx.
// The WebGPU engine's tests need a Vulkan driver; on machines without a GPU they use SwiftShader, which
// Debian's chromium package ships (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []);
}

const filter = process.argv.slice(2);
const files = find('tests').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s))).sort();
const env = { ...process.env };
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  env.VK_ICD_FILENAMES = swiftshader;
  env.LD_LIBRARY_PATH = ['/usr/lib/chromium', env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
