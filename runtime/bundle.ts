// The bundle manifest (docs/architecture.md, "Bundle"): parse and validate manifest.json, and verify a
// file's bytes against it (size, sha256, and for ONNX files that they are a complete protobuf message).
// Pure TypeScript, no Node or DOM: the worker, the page and `onerec eval --bundle` use the same checks.
//
//   const manifest = parseManifest(JSON.parse(text), url);        // BundleFormatError on a bad manifest
//   await verifyBundleFile(manifest, 'encoder', bytes, fileUrl);  // BundleIntegrityError / BundleFormatError
//
// Errors are runtime/errors.ts's classes; every message names the file (URL or path) and the fix.
import { BundleFormatError, BundleIntegrityError, BundleVersionError } from './errors.ts';
import { sha256Hex } from './sha256.ts';
import { SPECIAL_TOKENS, vocabSize } from './tokens.ts';
import { decodeCatalog } from './catalog-format.ts';
import { ItemIds, readItemIndex } from './item-index.ts';
import { ProtoReader, readGraphInputs, readGraphOutputs } from './onnx-initializers.ts';
import { RUNTIME_LIMITS } from './limits.ts';
import { GRAPH_CONTRACT_VERSION, MODEL_CONFIG_FIELDS, type ModelConfig } from './model-config.ts';
import { SemanticIdTrie } from './semantic-id-trie.ts';
import { checkTransitionParams, type TransitionParams } from './transitions.ts';

export const BUNDLE_FORMAT = 'onerec-bundle';
/**
 * The bundle's file layout: 2 = items.bin (runtime/item-index.ts) with an optional display catalog; 1 (trie.bin and a
 * catalog.bin every bundle carried) is migrated by `onerec migrate`.
 */
export const BUNDLE_VERSION = 2;
/** What a BundleVersionError tells the owner of an older bundle to do. */
export const MIGRATE_FIX = 'Rewrite it with `onerec migrate --bundle <folder>` (manifest and item files only; graphs of the current contract are kept byte for byte), or re-export it with `onerec export`';

export const BUNDLE_ROLES = ['encoder', 'decoderStep', 'reward', 'items', 'catalog', 'transitions'] as const;
export type BundleRole = (typeof BUNDLE_ROLES)[number];
/**
 * Roles every bundle has. Optional: `reward` (only bundles with engagement signals carry one), `catalog`, the
 * display catalog (titles, attributes), fetched only when load() asks for it, and `transitions`, the transition prior
 * that reranks the candidates (runtime/transitions.ts; with the manifest's `transitions`).
 */
export const REQUIRED_ROLES: readonly BundleRole[] = ['encoder', 'decoderStep', 'items'];
/** Roles whose file is an ONNX model. */
export const ONNX_ROLES: readonly BundleRole[] = ['encoder', 'decoderStep', 'reward'];

export interface BundleFile {
  path: string; // relative to manifest.json
  bytes: number; // exact size
  sha256: string; // lowercase hex
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  name: string;
  created: string; // ISO 8601
  contract: typeof GRAPH_CONTRACT_VERSION; // the graphs' contract version (runtime/model-config.ts)
  model: ModelConfig;
  tokens: { pad: number; bos: number; special: number; levels: number; codebookSize: number; vocabSize: number };
  generation: { sessionLength: number; beamWidth: number; maxHistory: number };
  quantization: 'fp32' | 'int8' | 'int4';
  files: Partial<Record<BundleRole, BundleFile>>;
  reward?: { towers: { name: string; label: string }[]; weights: number[] };
  // The repeat-awareness layer (runtime/beam-search.ts BeamSearchOptions.historyBias): β per level for the codes on
  // a history item's path, fitted on the training data (models/seed/history-bias.ts); `fit` says how.
  historyBias?: { bias: number[]; fit?: Record<string, unknown> };
  // The transition prior's constants (runtime/transitions.ts), with files.transitions: the candidates (the beam's, plus
  // the table's own for one-item sessions) are reranked by log P + λ · log prior + η · repeats; `fit` says how λ and η
  // were chosen (models/export/transitions-fit.ts); `through`, which split the table's counts end with ('train', or
  // 'validation': every transition but the test split's; absent in bundles from before it was recorded: 'train').
  transitions?: TransitionParams & { fit?: Record<string, unknown>; through?: 'train' | 'validation' };
  // 'validation' where the network is a refit (onerec train --trainThrough=validation): it trained on the validation
  // targets too, so nothing about it may be fitted or measured on that split. Absent: trained on the training split.
  trainedThrough?: 'validation';
  // An ensemble's members (models/export/seed-graphs.ts): each one's own config. `model` then describes the graph
  // contract: member 0's config with decoderLayers = the stacked cache layers of all members. The runtime needs
  // nothing of this; it says what the graphs hold.
  ensemble?: { members: ModelConfig[]; combine: string };
  metrics?: Record<string, unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A SeedConfig from the manifest ("model" or an ensemble member): finite numbers, positive integer sizes within runtime/limits.ts. */
function checkModelConfig(value: unknown, where: string, fail: (reason: string) => never): ModelConfig {
  if (!isRecord(value)) return fail(`"${where}" must be the SeedConfig object`);
  for (const key of MODEL_CONFIG_FIELDS) {
    if (typeof value[key] !== 'number' || !Number.isFinite(value[key])) fail(`"${where}.${key}" must be a number, got ${JSON.stringify(value[key])}`);
  }
  const m = value as unknown as ModelConfig;
  for (const key of MODEL_CONFIG_FIELDS.filter((k) => k !== 'moeAuxWeight' && k !== 'dropout')) {
    if (!Number.isInteger(m[key]) || m[key] < 1) fail(`"${where}.${key}" = ${m[key]} must be a positive integer`);
    const bound = key === 'expertsPerToken' ? m.experts : RUNTIME_LIMITS[key];
    if (m[key] > bound) fail(`"${where}.${key}" = ${m[key]} exceeds ${bound}, the most this runtime allocates for (runtime/limits.ts)`);
  }
  if (m.dModel % m.heads !== 0) fail(`"${where}.heads" = ${m.heads} does not divide "${where}.dModel" = ${m.dModel}`);
  return m;
}

/** Validates a parsed manifest.json; `url` names it in errors. */
export function parseManifest(json: unknown, url: string): BundleManifest {
  const fail = (reason: string): never => {
    throw new BundleFormatError(url, reason);
  };
  if (!isRecord(json)) return fail(`manifest is ${Array.isArray(json) ? 'an array' : typeof json}, expected a JSON object`);
  if (json.format !== BUNDLE_FORMAT) fail(`"format" is ${JSON.stringify(json.format)}, expected "${BUNDLE_FORMAT}"`);
  if (json.version !== BUNDLE_VERSION) {
    const older = typeof json.version === 'number' && json.version < BUNDLE_VERSION;
    throw new BundleVersionError(url, `manifest "version" ${JSON.stringify(json.version)} is ${older ? 'an older' : 'not a'} bundle layout; this runtime reads version ${BUNDLE_VERSION}`,
      older ? MIGRATE_FIX : 'Update the runtime (onerec-web) to the version of the onerec that exported it');
  }
  if (json.contract !== GRAPH_CONTRACT_VERSION) {
    const older = json.contract === undefined || (typeof json.contract === 'number' && json.contract < GRAPH_CONTRACT_VERSION);
    throw new BundleVersionError(url, `manifest "contract" ${JSON.stringify(json.contract)}: its graphs are ${older ? 'of an older' : 'not of this'} graph contract; this runtime runs contract ${GRAPH_CONTRACT_VERSION} (runtime/model-config.ts)`,
      older ? 'Re-export the bundle with `onerec export` from its checkpoint (graphs of an older contract cannot be migrated)' : 'Update the runtime (onerec-web) to the version of the onerec that exported it');
  }
  if (typeof json.name !== 'string' || json.name === '') fail('"name" must be a non-empty string');
  if (typeof json.created !== 'string') fail('"created" must be an ISO date string');

  const m = checkModelConfig(json.model, 'model', fail);

  const tokens = json.tokens;
  if (!isRecord(tokens)) return fail('"tokens" must be an object');
  const expectedTokens = { pad: 0, bos: 1, special: SPECIAL_TOKENS, levels: m.levels, codebookSize: m.codebookSize, vocabSize: vocabSize(m.levels, m.codebookSize) };
  for (const [key, value] of Object.entries(expectedTokens)) {
    if (tokens[key] !== value) fail(`"tokens.${key}" is ${JSON.stringify(tokens[key])}, expected ${value} (runtime/tokens.ts and "model")`);
  }

  const generation = json.generation;
  if (!isRecord(generation)) return fail('"generation" must be an object');
  for (const key of ['sessionLength', 'beamWidth', 'maxHistory']) {
    const v = generation[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`"generation.${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (generation.maxHistory !== m.maxHistory) fail(`"generation.maxHistory" ${generation.maxHistory} differs from "model.maxHistory" ${m.maxHistory}; the encoder's input is static`);
  if ((generation.beamWidth as number) > RUNTIME_LIMITS.beamWidth) fail(`"generation.beamWidth" ${generation.beamWidth} exceeds ${RUNTIME_LIMITS.beamWidth}, the most this runtime allocates for (runtime/limits.ts)`);
  if ((generation.sessionLength as number) > m.sessionLength) {
    fail(`"generation.sessionLength" ${generation.sessionLength} exceeds "model.sessionLength" ${m.sessionLength}, the decoder's positions`);
  }

  if (!['fp32', 'int8', 'int4'].includes(json.quantization as string)) fail(`"quantization" is ${JSON.stringify(json.quantization)}, expected "fp32", "int8" or "int4"`);

  const files = json.files;
  if (!isRecord(files)) return fail('"files" must be an object of role → { path, bytes, sha256 }');
  for (const role of Object.keys(files)) {
    if (!(BUNDLE_ROLES as readonly string[]).includes(role)) fail(`"files.${role}" is not a known role (${BUNDLE_ROLES.join(', ')})`);
  }
  for (const role of REQUIRED_ROLES) if (!files[role]) fail(`"files.${role}" is missing`);
  for (const [role, file] of Object.entries(files)) {
    if (!isRecord(file)) return fail(`"files.${role}" must be { path, bytes, sha256 }`);
    const problem = bundlePathProblem(file.path);
    if (problem) fail(`"files.${role}.path" ${JSON.stringify(file.path)} must be a relative path inside the bundle: ${problem}`);
    if (typeof file.bytes !== 'number' || !Number.isInteger(file.bytes) || file.bytes < 0) fail(`"files.${role}.bytes" must be a byte count`);
    if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256)) fail(`"files.${role}.sha256" must be 64 lowercase hex digits`);
  }

  if (json.reward !== undefined) {
    const reward = json.reward;
    if (!isRecord(reward) || !Array.isArray(reward.towers) || !Array.isArray(reward.weights)) return fail('"reward" must be { towers: [{ name, label }], weights: number[] }');
    if (reward.towers.length !== reward.weights.length) fail(`"reward" has ${reward.towers.length} towers and ${reward.weights.length} weights`);
    reward.towers.forEach((t, i) => {
      if (!isRecord(t) || typeof t.name !== 'string' || typeof t.label !== 'string') fail(`"reward.towers[${i}]" must be { name, label }`);
    });
    if (!reward.weights.every((w) => typeof w === 'number' && Number.isFinite(w))) fail('"reward.weights" must be finite numbers');
    if (!files.reward) fail('"reward" is set but "files.reward" is missing');
  }
  if (json.ensemble !== undefined) {
    // The members' configs size the runtime's own engines (runtime/wasm-decoder.ts, webgpu-decoder.ts): each is checked
    // like "model", and they must add up to the graph contract that "model" describes.
    const ensemble = json.ensemble;
    if (!isRecord(ensemble) || !Array.isArray(ensemble.members) || ensemble.members.length < 1 || ensemble.members.length > RUNTIME_LIMITS.ensembleMembers) {
      return fail(`"ensemble" must be { members: [1..${RUNTIME_LIMITS.ensembleMembers} SeedConfig objects], combine }`);
    }
    const members = ensemble.members.map((member, j) => checkModelConfig(member, `ensemble.members[${j}]`, fail));
    members.forEach((member, j) => {
      for (const key of ['codebookSize', 'levels', 'maxHistory', 'sessionLength', 'dModel', 'heads'] as const) {
        if (member[key] !== m[key]) fail(`"ensemble.members[${j}].${key}" = ${member[key]} differs from "model.${key}" = ${m[key]}; the members of one ensemble share it`);
      }
    });
    const layers = members.reduce((sum, member) => sum + member.decoderLayers, 0);
    if (layers !== m.decoderLayers) fail(`the members' decoderLayers add up to ${layers}, "model.decoderLayers" is ${m.decoderLayers} (the graphs stack every member's layers)`);
  }
  if (json.transitions !== undefined) {
    const params = checkTransitionParams(json.transitions);
    if (typeof params === 'string') fail(`"transitions" ${params}`);
    const through = (json.transitions as Record<string, unknown>).through;
    if (through !== undefined && through !== 'train' && through !== 'validation') fail(`"transitions.through" must be 'train' or 'validation', got ${JSON.stringify(through)}`);
    if (!files.transitions) fail('"transitions" is set but "files.transitions" is missing');
  } else if (files.transitions) {
    fail('"files.transitions" is there but "transitions" (the rerank\'s constants) is not');
  }
  if (json.trainedThrough !== undefined && json.trainedThrough !== 'validation') fail(`"trainedThrough" must be 'validation' where it is set, got ${JSON.stringify(json.trainedThrough)}`);
  if (json.historyBias !== undefined) {
    const hb = json.historyBias;
    if (!isRecord(hb) || !Array.isArray(hb.bias) || hb.bias.length !== m.levels || !hb.bias.every((b) => typeof b === 'number' && Number.isFinite(b))) {
      fail(`"historyBias" must be { bias: [${m.levels} finite numbers, one per level] }, got ${JSON.stringify(hb)}`);
    }
  }
  return json as unknown as BundleManifest;
}

/** One segment of a bundle file's path: no leading dot (so no `.`, `..` or hidden files), no `%`, `\\`, `:`, `?`, `#`. */
const PATH_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * Why `path` cannot name a file of a bundle, or null when it can: a relative path of plain segments
 * (letters, digits, `_`, `-`, `.` but not first), separated by `/`. Every other spelling — `..` encoded or not,
 * backslashes, absolute paths, another origin, a scheme (file:, data:), a query — is refused before any URL is built.
 */
export function bundlePathProblem(path: unknown): string | null {
  if (typeof path !== 'string' || path === '') return 'it must be a non-empty string';
  if (path.length > 1024) return `it is ${path.length} characters long (at most 1024)`;
  const bad = path.split('/').find((segment) => !PATH_SEGMENT.test(segment));
  if (bad === undefined) return null;
  return bad === '' ? 'it has an empty segment (a leading, doubled or trailing /)'
    : `segment ${JSON.stringify(bad)} is not a plain file or folder name (letters, digits, _ - and . not first; no .., %, \\, :)`;
}

/**
 * The URL of a bundle file: `path` resolved against the manifest's URL, checked to lie under the manifest's own
 * folder — same scheme, host, port and credentials, a pathname below the folder's before and after %-decoding,
 * no query or fragment. A BundleFormatError naming the manifest and the role otherwise, before anything is fetched.
 */
export function bundleFileUrl(manifestUrl: string, role: string, path: unknown): string {
  const fail = (reason: string): never => {
    throw new BundleFormatError(manifestUrl, `"files.${role}.path" ${JSON.stringify(path)} ${reason}; a bundle's files must lie in its own folder`);
  };
  const problem = bundlePathProblem(path);
  if (problem) fail(`is not a relative path inside the bundle: ${problem}`);
  let base: URL;
  let url: URL;
  try {
    base = new URL('.', manifestUrl);
    url = new URL(path as string, manifestUrl);
  } catch {
    return fail('does not resolve to a URL');
  }
  const sameServer = url.protocol === base.protocol && url.host === base.host && url.username === base.username && url.password === base.password;
  // The part below the manifest's folder, %-decoded: it must exist and hold no `..` segment in either slash.
  let below: string | null = null;
  if (url.pathname.startsWith(base.pathname)) {
    try {
      below = decodeURIComponent(url.pathname.slice(base.pathname.length));
    } catch {
      below = null; // a malformed %-escape
    }
  }
  const inFolder = below !== null && below !== '' && !below.startsWith('/') && !below.split(/[\\/]/).includes('..');
  const within = sameServer && inFolder && url.search === '' && url.hash === '';
  if (!within) fail(`resolves to ${url.href}, outside ${base.href}`);
  return url.href;
}

/**
 * Checks that the manifest's sizes agree with what the bundle's files declare, so that a disagreement fails at
 * load and not at the first call: the item index's levels and codebook (BundleFormatError naming items.bin), the
 * encoder's input `history_tokens [1, maxHistory × levels]`, and the decoder's cache and cross-attention inputs
 * `[decoderLayers, ·, heads, ·, dModel / heads]` and its `logits [·, vocab]` / `code_scores [·, K + 2]` outputs
 * (BundleFormatError naming the graph), and reward.onnx's static lengths against runtime/limits.ts. `urls` names each
 * role's file.
 */
export function checkBundleAgainstManifest(manifest: BundleManifest, files: { trie: SemanticIdTrie; encoder: Uint8Array; decoderStep: Uint8Array; reward?: Uint8Array | null }, urls: Partial<Record<BundleRole, string>>): void {
  const { model, tokens } = manifest;
  if (files.trie.levels !== tokens.levels || files.trie.codebookSize !== tokens.codebookSize) {
    throw new BundleFormatError(urls.items ?? 'items', `the item index has ${files.trie.levels} levels × ${files.trie.codebookSize} codes, the manifest's "tokens" ${tokens.levels} × ${tokens.codebookSize}; re-export the bundle (onerec export)`);
  }
  const historyTokens = model.maxHistory * tokens.levels;
  const dh = model.dModel / model.heads;
  const expect = (role: BundleRole, values: Map<string, (number | string)[]>, name: string, want: (number | null)[], optional = false): void => {
    const dims = values.get(name);
    if (!dims) {
      if (optional) return;
      throw new BundleFormatError(urls[role] ?? role, `the graph has no "${name}"; re-export the bundle (onerec export)`);
    }
    const agrees = dims.length === want.length && want.every((w, i) => w === null || dims[i] === w);
    if (!agrees) {
      throw new BundleFormatError(urls[role] ?? role, `"${name}" is [${dims.join(', ')}] where the manifest's model says [${want.map((w) => w ?? '·').join(', ')}]; the manifest and the graph come from different exports: re-export the bundle (onerec export)`);
    }
  };
  const graph = (role: BundleRole, bytes: Uint8Array): { inputs: Map<string, (number | string)[]>; outputs: Map<string, (number | string)[]> } => {
    try {
      return { inputs: readGraphInputs(bytes), outputs: readGraphOutputs(bytes) };
    } catch (e) {
      throw new BundleFormatError(urls[role] ?? role, `its graph does not parse (${(e as Error).message}); re-export the bundle (onerec export)`);
    }
  };
  const encoder = graph('encoder', files.encoder);
  expect('encoder', encoder.inputs, 'history_tokens', [1, historyTokens]);
  const decoder = graph('decoderStep', files.decoderStep);
  for (const name of ['past_k', 'past_v']) expect('decoderStep', decoder.inputs, name, [model.decoderLayers, null, model.heads, null, dh]);
  for (const name of ['cross_k', 'cross_v']) expect('decoderStep', decoder.inputs, name, [model.decoderLayers, 1, model.heads, historyTokens, dh]);
  expect('decoderStep', decoder.inputs, 'memory_bias', [1, historyTokens]);
  expect('decoderStep', decoder.outputs, 'logits', [null, tokens.vocabSize]);
  expect('decoderStep', decoder.outputs, 'code_scores', [null, tokens.codebookSize + 2]);
  // Contract 3 takes an item's last code and the next BOS in one call: `token [B, T]` with T symbolic.
  const token = decoder.inputs.get('token');
  if (!token || token.length !== 2 || typeof token[1] !== 'string') {
    throw new BundleFormatError(urls.decoderStep ?? 'decoderStep', `"token" is [${token?.join(', ') ?? 'missing'}], not [B, T] of graph contract ${GRAPH_CONTRACT_VERSION}; the manifest's "contract" does not describe this graph: re-export the bundle (onerec export)`);
  }
  if (files.reward) {
    // reward.onnx's static lengths size every rerank's inputs: history_items [1, H], session_items [N, M].
    const reward = graph('reward', files.reward);
    const [, H] = reward.inputs.get('history_items') ?? [];
    const [, M] = reward.inputs.get('session_items') ?? [];
    const bounded = (v: unknown, max: number): boolean => typeof v !== 'number' || v <= max;
    if (!bounded(H, RUNTIME_LIMITS.maxHistory) || !bounded(M, RUNTIME_LIMITS.sessionLength)) {
      throw new BundleFormatError(urls.reward ?? 'reward', `history_items [1, ${H}] and session_items [N, ${M}] exceed the runtime's bounds (history ${RUNTIME_LIMITS.maxHistory}, session ${RUNTIME_LIMITS.sessionLength} items; runtime/limits.ts)`);
    }
  }
}

/**
 * Checks that `bytes` are a complete protobuf message whose top level has an ONNX ModelProto's
 * `ir_version` (field 1) and `graph` (field 7). Catches truncated and non-ONNX files before
 * onnxruntime reports an opaque parse error. Returns a reason, or null when the bytes look right.
 */
export function onnxStructureProblem(bytes: Uint8Array): string | null {
  const reader = new ProtoReader(bytes, 0, bytes.length, 'file');
  const seen = new Set<number>();
  try {
    while (!reader.done) seen.add(reader.field().field);
  } catch (e) {
    return (e as Error).message;
  }
  if (!seen.has(1)) return 'no ir_version (field 1): not an ONNX ModelProto';
  if (!seen.has(7)) return 'no graph (field 7): not an ONNX ModelProto';
  return null;
}

/**
 * Verifies one file of the bundle: its size, its sha256, and for ONNX roles its protobuf structure.
 * `url` is where the bytes came from (named in the error).
 */
export async function verifyBundleFile(manifest: BundleManifest, role: BundleRole, bytes: Uint8Array, url: string): Promise<void> {
  const file = manifest.files[role];
  if (!file) throw new BundleFormatError(url, `the manifest lists no "${role}" file`);
  const actual = await sha256Hex(bytes);
  if (actual !== file.sha256) throw new BundleIntegrityError(url, file.sha256, actual, bytes.length);
  if (bytes.length !== file.bytes) throw new BundleFormatError(url, `${bytes.length} bytes where the manifest says ${file.bytes}`);
  if (ONNX_ROLES.includes(role)) {
    const problem = onnxStructureProblem(bytes);
    if (problem) throw new BundleFormatError(url, `${file.path} is not a valid ONNX model: ${problem}; re-export the bundle (onerec export)`);
  }
}

/** Item catalog entry: what the bundle displays for one item (index = the item index). */
export interface CatalogEntry {
  id: string; // external id (ASIN, video id)
  title?: string;
  attributes?: string[]; // display attributes (brand, categories …)
}

/** What generation needs about the items, from items.bin: the trie the beam search walks and the external ids. */
export interface BundleItems {
  trie: SemanticIdTrie; // rebuilt from the codes
  itemIds: ItemIds; // [items] external ids, by item index, and the lookup back (decimal ids kept as numbers)
}

/**
 * Decodes items.bin (runtime/item-index.ts) and builds the trie; BundleFormatError naming `url` when the bytes are not
 * one. `timings` (ms), when given, is added to: the decoding, then the trie build.
 */
export function parseBundleItems(bytes: Uint8Array, url: string, timings?: { itemsMs: number; trieMs: number }): BundleItems {
  try {
    const t0 = performance.now();
    const index = readItemIndex(bytes);
    const t1 = performance.now();
    const trie = SemanticIdTrie.build(index.codes, index.levels, index.codebookSize);
    if (timings) {
      timings.itemsMs += t1 - t0;
      timings.trieMs += performance.now() - t1;
    }
    return { trie, itemIds: index.ids };
  } catch (e) {
    throw new BundleFormatError(url, `item index: ${(e as Error).message}; re-export the bundle (onerec export)`);
  }
}

/**
 * Parses the display catalog, catalog.bin (runtime/catalog-format.ts, "OCAT"), of a bundle whose items.bin holds
 * `itemIds`: one entry per item, each with the item's id.
 */
export function parseCatalog(bytes: Uint8Array, itemIds: ItemIds | readonly string[], url: string): CatalogEntry[] {
  let entries: CatalogEntry[];
  try {
    entries = decodeCatalog(bytes, itemIds.length);
  } catch (e) {
    throw new BundleFormatError(url, `catalog: ${(e as Error).message}; re-export the bundle (onerec export)`);
  }
  const idOf = itemIds instanceof ItemIds ? (i: number): string => itemIds.idOf(i) : (i: number): string => itemIds[i];
  const differs = entries.findIndex((entry, i) => entry.id !== idOf(i));
  if (differs >= 0) throw new BundleFormatError(url, `catalog entry ${differs} is ${JSON.stringify(entries[differs].id)}, items.bin's item ${differs} ${JSON.stringify(idOf(differs))}; the catalog comes from another export: re-export the bundle (onerec export)`);
  return entries;
}
