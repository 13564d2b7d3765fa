// The seed model's config as a bundle's manifest carries it ("model", and each of "ensemble.members"), and the version
// of the graph contract between the exporter (models/export/seed-graphs.ts) and the runtime: declared here once; the
// trainer's SeedConfig (models/seed/config.ts) is this config, the runtime's engines read it from the manifest.

export interface ModelConfig {
  codebookSize: number; // K: slots per semantic-ID level (from the prepared data; Beauty 256)
  levels: number; // codes per item, suffix level included (from the prepared data; Beauty 4)
  dModel: number; // residual width
  heads: number; // attention heads; must divide dModel
  encoderLayers: number; // bidirectional self-attention blocks over the history
  decoderLayers: number; // causal self-attn + cross-attn + MoE blocks (an ensemble's "model": all members' layers)
  ffnDim: number; // encoder feed-forward hidden width
  experts: number; // decoder MoE experts (1 = dense decoder FFN)
  expertsPerToken: number; // top-k routing (2 per the spec; 1 when experts = 1)
  expertFfnDim: number; // hidden width of one expert; active FFN width = expertsPerToken * expertFfnDim
  maxHistory: number; // history items the encoder sees (most recent kept; TIGER uses 20)
  sessionLength: number; // items per decoded session (m); 1 for next-item benchmarks
  moeAuxWeight: number; // weight of the Switch load-balancing loss (0 = off); training only
  dropout: number; // dropout probability on residual branches and attention weights; training only
}

/** Every field of ModelConfig, in the manifest's order. */
export const MODEL_CONFIG_FIELDS: readonly (keyof ModelConfig)[] = [
  'codebookSize', 'levels', 'dModel', 'heads', 'encoderLayers', 'decoderLayers', 'ffnDim', 'experts', 'expertsPerToken',
  'expertFfnDim', 'maxHistory', 'sessionLength', 'moeAuxWeight', 'dropout',
];

/** The sizes the runtime's own engines compute with (runtime/webgpu-decoder.ts, runtime/wasm-decoder.ts): no training-only fields. */
export type EngineModelConfig = Omit<ModelConfig, 'moeAuxWeight' | 'dropout'>;

/**
 * The graph contract of encoder.onnx and decoder_step.onnx (docs/architecture.md, "ONNX graphs"), by version:
 *   1  decoder_step `token [B, 1]`, outputs `logits` only: the runtime normalises the logits itself
 *   2  adds `code_logits [B, K]` and `logit_max_sum [B, 2]` (bundles exported on 2026-11-29)
 *   3  `token [B, T]` (T ≤ 2: an item's last code and the next BOS in one call) and one `code_scores [B, K + 2]` output
 * A manifest's `contract` names its graphs' version, and the runtime runs this version only: any other, or none (bundles
 * exported before the field), is a BundleVersionError saying what to do (runtime/bundle.ts). `onerec migrate` rewrites an
 * older bundle layout whose graphs are of this version (models/export/bundle-migrate.ts, the one reader of older graphs'
 * inputs and outputs).
 */
export const GRAPH_CONTRACT_VERSION = 3;
