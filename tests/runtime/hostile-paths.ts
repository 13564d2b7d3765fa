// Bundle file paths that name something outside the bundle (or nothing), shared by the Node and browser tests of
// runtime/bundle.ts's path checks (tests/runtime/bundle-paths.test.ts, tests/browser/bundle-paths.test.ts).

/** Paths that name something outside the bundle (or nothing), each in a spelling that has fooled a check somewhere. */
export const HOSTILE_PATHS: unknown[] = [
  '../secret.bin', '..', '../', 'a/../../secret.bin', 'a/b/../../../secret.bin', './../secret.bin',
  '%2e%2e/secret.bin', '%2E%2E/secret.bin', '.%2e/secret.bin', '%2e./secret.bin', '..%2fsecret.bin', '..%2Fsecret.bin',
  '%2e%2e%2fsecret.bin', 'a/%2e%2e/%2e%2e/secret.bin', '%252e%252e/secret.bin', '..%5csecret.bin', '..%255csecret.bin',
  '..\\secret.bin', 'a\\..\\..\\secret.bin', '\\secret.bin', '\\\\evil.example\\share\\x', '/etc/passwd', '/secret.bin',
  '//evil.example/x.onnx', '///etc/passwd', 'http://evil.example/x.onnx', 'https://evil.example/x.onnx', 'HTTP://evil.example/x',
  'https:evil.example/x', 'http:/evil.example/x', 'file:///etc/passwd', 'file:secret.bin', 'FILE:///etc/passwd',
  'data:application/octet-stream;base64,AAAA', 'javascript:alert(1)', 'blob:http://evil.example/uuid', 'ws://evil.example/x',
  'C:\\Windows\\x', 'c:/x', 'user@evil.example/x', 'x.onnx?u=../../secret.bin', 'x.onnx#../../secret.bin', 'x.onnx%3f..%2f',
  '', ' ', 'a//b.onnx', 'a/', '.', './x.onnx', '.hidden', 'x%00.onnx', 'x\u0000.onnx', '\tx.onnx', 'x.onnx\n', 'x y.onnx',
  '\u2025/secret.bin', '\uff0e\uff0e/secret.bin', '%c0%ae%c0%ae/secret.bin', 'a'.repeat(2000),
  null, 42, ['encoder.onnx'], { path: 'encoder.onnx' }, true,
];
