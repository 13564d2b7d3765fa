// The exported seed graphs under onnxruntime-node (CPU EP): a `DecoderSession` for runtime/beam-search.ts,
// used by `onerec eval --bundle` and by the parity tests. The browser has its own (runtime/, ort-web); both
// follow the graph contract in docs/architecture.md.
import * as ort from 'onnxruntime-node';
import { codeLogProbs, type DecoderSession } from '../../runtime/beam-search.ts';
import type { SeedConfig } from '../seed/config.ts';

export interface EncoderResult {
  crossK: ort.Tensor; // [decoderLayers, 1, heads, S, dh]
  crossV: ort.Tensor;
  memoryBias: ort.Tensor; // [1, S]
}

export interface DecoderSessionOptions {
  /**
   * Offer two-token steps (an item's last code with the next BOS in one call), as the runtime does, when the
   * graph takes them. Off by default: the scores then equal, to the last float32 bit, those of a session that
   * feeds one token per call (models/align's OnnxPolicy compares the two).
   */
  twoTokenSteps?: boolean;
}

export class OnnxSeedModel {
  private constructor(
    readonly config: SeedConfig,
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
  ) {}

  static async create(config: SeedConfig, encoderOnnx: Uint8Array, decoderStepOnnx: Uint8Array, options: ort.InferenceSession.SessionOptions = {}): Promise<OnnxSeedModel> {
    const settings: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, ...options };
    const [encoder, decoder] = await Promise.all([ort.InferenceSession.create(encoderOnnx, settings), ort.InferenceSession.create(decoderStepOnnx, settings)]);
    return new OnnxSeedModel(config, encoder, decoder);
  }

  /** historyTokens [S] (runtime/tokens.ts encoderTokens) → cross-attention keys/values and memory bias */
  async encode(historyTokens: Int32Array): Promise<EncoderResult> {
    const tokens = new ort.Tensor('int64', BigInt64Array.from(historyTokens, (t) => BigInt(t)), [1, historyTokens.length]);
    const out = await this.encoder.run({ history_tokens: tokens });
    return { crossK: out.cross_k, crossV: out.cross_v, memoryBias: out.memory_bias };
  }

  /** One request: encodes the history, then steps the decoder with the cache kept as ort tensors. */
  async session(historyTokens: Int32Array, options: DecoderSessionOptions = {}): Promise<DecoderSession> {
    return this.decoderSession(await this.encode(historyTokens), options);
  }

  /** A decoder over an encoder result already computed (several searches for one history share it). */
  decoderSession(encoded: EncoderResult, options: DecoderSessionOptions = {}): DecoderSession {
    return new OnnxDecoderSession(this.config, this.decoder, encoded, options);
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}

export class OnnxDecoderSession implements DecoderSession {
  private pastK: ort.Tensor;
  private pastV: ort.Tensor;
  private position = 0;

  constructor(private readonly config: SeedConfig, private readonly decoder: ort.InferenceSession, private readonly encoded: EncoderResult, options: DecoderSessionOptions = {}) {
    const { decoderLayers, heads, dModel } = config;
    const empty = [decoderLayers, 1, heads, 0, dModel / heads]; // P = 0 before the first step
    this.pastK = new ort.Tensor('float32', new Float32Array(0), empty);
    this.pastV = new ort.Tensor('float32', new Float32Array(0), empty);
    const tokenInput = decoder.inputMetadata.find((m) => m.name === 'token');
    this.twoTokenSteps = (options.twoTokenSteps ?? false) && tokenInput !== undefined && tokenInput.isTensor && typeof tokenInput.shape[1] === 'string';
    if (decoder.outputNames.includes('code_logits')) {
      this.stepCodeLogProbs = async (tokens, parents) => {
        const [codeLogits, maxSum] = await this.run(tokens, parents, ['code_logits', 'logit_max_sum']);
        return codeLogProbs(codeLogits, maxSum);
      };
    }
  }

  /** Present when the graph has `code_logits` (runtime/beam-search.ts then reads these instead of logits). */
  readonly stepCodeLogProbs?: (tokens: Int32Array, parents: Int32Array) => Promise<Float64Array>; // → [rows, K]
  /** The graph's `token` input is [B, T] (bundles exported before it take one token per row). */
  readonly twoTokenSteps: boolean;

  /** tokens [rows], parents [rows] → logits [rows, vocab] */
  async step(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    return (await this.run(tokens, parents, ['logits']))[0];
  }

  /** One decoder call; only `outputs` and the cache are fetched. */
  private async run(tokens: Int32Array /* [rows, T] */, parents: Int32Array /* [rows] */, outputs: string[]): Promise<Float32Array[]> {
    const rows = parents.length;
    const perRow = tokens.length / rows; // T
    const out = await this.decoder.run({
      token: new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [rows, perRow]),
      position: new ort.Tensor('int64', BigInt64Array.of(BigInt(this.position)), [1]),
      beam_parent: new ort.Tensor('int64', BigInt64Array.from(parents, (p) => BigInt(p)), [rows]),
      past_k: this.pastK,
      past_v: this.pastV,
      cross_k: this.encoded.crossK,
      cross_v: this.encoded.crossV,
      memory_bias: this.encoded.memoryBias,
    }, [...outputs, 'present_k', 'present_v']);
    this.pastK = out.present_k;
    this.pastV = out.present_v;
    this.position += perRow;
    return outputs.map((name) => out[name].data as Float32Array);
  }

  dispose(): void {
    this.pastK.dispose();
    this.pastV.dispose();
  }
}
