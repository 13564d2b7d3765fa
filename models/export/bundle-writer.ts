// Writes a model bundle: encoder.onnx, decoder_step.onnx, items.bin, optionally catalog.bin, and manifest.json (the
// single source of truth: layout version, graph contract, config, tokens, generation defaults, every file's size and
// sha256).
//
//   await exportBundle({ weights: initSeedWeights(config, 1), config, trie, catalog, quantization: 'int4', outDir: 'runs/x/bundle' });
//
// File formats:
// - *.onnx: see models/export/seed-graphs.ts and docs/architecture.md ("ONNX graphs").
// - items.bin: runtime/item-index.ts's binary ("OITM" v1): every item's codes, bit-packed, and external id; the
//   runtime rebuilds the trie from the codes at load. What generation needs, ~5 bytes per item with numeric ids.
// - catalog.bin, the display catalog, only when some item has a title or attributes: runtime/catalog-format.ts's
//   binary ("OCAT" v1: strings stored once, items refer to them), index = item index, of `{ id, title?, attributes? }`
//   (runtime/bundle.ts CatalogEntry); titles are cut to CATALOG_TITLE_CHARS and attributes to CATALOG_ATTRIBUTES.
//   The runtime fetches it only when load() asks for it (LoadOptions.catalog).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleFile, type BundleManifest, type BundleRole, type CatalogEntry } from '../../runtime/bundle.ts';
import { encodeCatalog } from '../../runtime/catalog-format.ts';
import { encodeItemIndex } from '../../runtime/item-index.ts';
import { GRAPH_CONTRACT_VERSION } from '../../runtime/model-config.ts';
import type { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { BOS, PAD, SPECIAL_TOKENS } from '../../runtime/tokens.ts';
import { hasDenseHead, hasItemEmbedding } from '../seed/config.ts';
import { seedVocabSize, type SeedConfig, type SeedWeights } from '../seed/reference.ts';
import type { Quantization } from './quantize.ts';
import { buildEnsembleDecoderStepGraph, buildEnsembleEncoderGraph, ensembleContractConfig, type SeedMember } from './seed-graphs.ts';
import { buildRewardGraph } from './reward-graph.ts';
import type { RewardConfig } from '../reward/config.ts';
import { TOWER_LABELS } from '../reward/labels.ts';
import type { RewardWeights } from '../reward/reference.ts';

export const CATALOG_TITLE_CHARS = 120; // display titles are one line
export const CATALOG_ATTRIBUTES = 4; // brand + a few categories is what a card shows

export class ExportError extends Error {
  override name = 'ExportError';
}

/** A seed model with a trainer-only part that the bundle's graphs and the runtime do not compute (config.itemEmbedding, config.denseHead). */
export class RuntimeUnsupportedModelError extends Error {
  override name = 'RuntimeUnsupportedModelError';
}

/** Throws RuntimeUnsupportedModelError for a config whose model the runtime cannot run as trained. */
export function checkExportable(config: SeedConfig, where: string): void {
  if (hasItemEmbedding(config)) {
    throw new RuntimeUnsupportedModelError(`${where}: the model has item embeddings (itemEmbedding, enc.item_emb [${config.itemCount} + 1, ${config.dModel}]), which the runtime and the ONNX graph contract do not read yet; a bundle without them would rank differently from the model that was evaluated. Export a checkpoint trained without --itemEmbedding`);
  }
  if (hasDenseHead(config)) {
    throw new RuntimeUnsupportedModelError(`${where}: the model has a dense retrieval head (denseHead, dense.user.w/b), which the runtime and the ONNX graph contract do not read yet; a bundle of it would rank by the beam alone, not by the hybrid ranking (--denseMix) it was evaluated with. Export a checkpoint trained without --denseHead`);
  }
}

export interface ExportBundleOptions {
  weights: SeedWeights; // by contract parameter name
  config: SeedConfig;
  moreMembers?: SeedMember[]; // further ensemble members after { weights, config } (seed-graphs.ts: same tokens, width and heads); their logits are averaged
  trie: SemanticIdTrie; // built from the same codes the model was trained on
  catalog: CatalogEntry[]; // [items] by item index: the external ids (items.bin), and titles/attributes (catalog.bin, when any)
  quantization: Quantization;
  outDir: string;
  name?: string; // shown by the demo; default "onerec-seed"
  beamWidth?: number; // default beams for the runtime; default 10
  sessionLength?: number; // items per generated session; default config.sessionLength
  metrics?: Record<string, unknown>; // the eval report, when known
  reward?: { weights: RewardWeights; config: RewardConfig; towerWeights: number[] }; // reward.onnx + manifest.reward (towerWeights: one per tower, the rerank's weighted sum)
}

export interface ExportedBundle {
  manifest: BundleManifest;
  totalBytes: number; // Σ bytes of the files (manifest excluded)
  weightBytes: { encoder: number; decoderStep: number }; // initializer bytes inside each graph
  effectiveWeights: SeedWeights; // the weights the graphs compute with (dequantized where quantized); member 0's in an ensemble
  memberEffectiveWeights: SeedWeights[]; // [members] the same per member
  graphs: { encoder: Uint8Array; decoderStep: Uint8Array }; // the .onnx files as written
  config: SeedConfig; // the graph contract's config (manifest.model): member 0's, decoderLayers summed over the members
}

function compactEntry(entry: CatalogEntry): CatalogEntry {
  const out: CatalogEntry = { id: String(entry.id) };
  if (entry.title) out.title = entry.title.length > CATALOG_TITLE_CHARS ? `${entry.title.slice(0, CATALOG_TITLE_CHARS - 1)}…` : entry.title;
  if (entry.attributes?.length) out.attributes = entry.attributes.slice(0, CATALOG_ATTRIBUTES).map(String);
  return out;
}

/** True when some entry has a title or attributes: only then does the bundle carry a display catalog. */
export function hasDisplay(catalog: readonly CatalogEntry[]): boolean {
  return catalog.some((entry) => Boolean(entry.title) || (entry.attributes?.length ?? 0) > 0);
}

/** items.bin of `trie`'s items with these external ids (ExportError on a repeated id). */
export function itemIndexBytes(trie: SemanticIdTrie, ids: string[]): Uint8Array {
  const codes = new Uint16Array(trie.itemCount * trie.levels); // [items, levels]
  for (let item = 0; item < trie.itemCount; item++) codes.set(trie.itemCodes(item), item * trie.levels);
  try {
    return encodeItemIndex({ itemCount: trie.itemCount, levels: trie.levels, codebookSize: trie.codebookSize, codes, ids });
  } catch (e) {
    throw new ExportError(`items.bin: ${(e as Error).message}`);
  }
}

export async function exportBundle(options: ExportBundleOptions): Promise<ExportedBundle> {
  const { weights, trie, catalog, quantization, outDir } = options;
  const members: SeedMember[] = [{ weights, config: options.config }, ...(options.moreMembers ?? [])];
  members.forEach((m, i) => checkExportable(m.config, members.length > 1 ? `ensemble member ${i}` : 'the seed model'));
  const config = ensembleContractConfig(members.map((m) => m.config));
  if (trie.levels !== config.levels || trie.codebookSize !== config.codebookSize) {
    throw new ExportError(`the trie has levels ${trie.levels} × K ${trie.codebookSize} but the model has levels ${config.levels} × K ${config.codebookSize}; export with the prepared data the model was trained on`);
  }
  if (catalog.length !== trie.itemCount) {
    throw new ExportError(`the catalog has ${catalog.length} items but the trie ${trie.itemCount}; both must come from the same prepared data`);
  }
  mkdirSync(outDir, { recursive: true });
  const encoder = buildEnsembleEncoderGraph(members, quantization);
  const decoderStep = buildEnsembleDecoderStepGraph(members, quantization);
  const contents: [BundleRole, string, Uint8Array][] = [
    ['encoder', 'encoder.onnx', encoder.bytes],
    ['decoderStep', 'decoder_step.onnx', decoderStep.bytes],
    ['items', 'items.bin', itemIndexBytes(trie, catalog.map((entry) => String(entry.id)))],
  ];
  if (hasDisplay(catalog)) contents.push(['catalog', 'catalog.bin', encodeCatalog(catalog.map(compactEntry))]);
  const { reward } = options;
  if (reward) {
    if (reward.config.itemCount !== trie.itemCount) throw new ExportError(`the reward model scores ${reward.config.itemCount} items but the trie has ${trie.itemCount}; train both on the same prepared data`);
    if (reward.config.itemRepresentation === 'codes' && (reward.config.codeLevels !== trie.levels || reward.config.codebookSize !== trie.codebookSize)) {
      throw new ExportError(`the reward model reads ${reward.config.codeLevels} code levels of ${reward.config.codebookSize} codes but the trie has ${trie.levels} of ${trie.codebookSize}; train both on the same prepared data`);
    }
    if (reward.towerWeights.length !== reward.config.towers.length) throw new ExportError(`${reward.towerWeights.length} tower weights for ${reward.config.towers.length} towers (${reward.config.towers.join(',')})`);
    contents.push(['reward', 'reward.onnx', buildRewardGraph(reward.weights, reward.config, quantization).bytes]);
  }
  const files: Partial<Record<BundleRole, BundleFile>> = {};
  for (const [role, path, bytes] of contents) {
    writeFileSync(join(outDir, path), bytes);
    files[role] = { path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    contract: GRAPH_CONTRACT_VERSION,
    name: options.name ?? 'onerec-seed',
    created: new Date().toISOString(),
    model: { ...config },
    ...(members.length > 1 ? { ensemble: { members: members.map((m) => ({ ...m.config })), combine: 'mean of the members\' logits (the product of their next-token distributions, renormalised)' } } : {}),
    tokens: { pad: PAD, bos: BOS, special: SPECIAL_TOKENS, levels: config.levels, codebookSize: config.codebookSize, vocabSize: seedVocabSize(config) },
    generation: { sessionLength: options.sessionLength ?? config.sessionLength, beamWidth: options.beamWidth ?? 10, maxHistory: config.maxHistory },
    quantization,
    files,
    ...(reward ? { reward: { towers: reward.config.towers.map((name) => ({ name, label: TOWER_LABELS[name] })), weights: [...reward.towerWeights] } } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const memberEffectiveWeights = members.map((m, j) => ({ ...m.weights, ...encoder.memberEffective![j], ...decoderStep.memberEffective![j] }));
  return {
    manifest,
    totalBytes: Object.values(files).reduce((s, f) => s + (f?.bytes ?? 0), 0),
    weightBytes: { encoder: encoder.weightBytes, decoderStep: decoderStep.weightBytes },
    effectiveWeights: memberEffectiveWeights[0],
    memberEffectiveWeights,
    graphs: { encoder: encoder.bytes, decoderStep: decoderStep.bytes },
    config,
  };
}
