// An exported bundle (encoder.onnx + decoder_step.onnx under onnxruntime-node) as an evaluation-only
// AlignPolicy: `onerec align --evalBundles` measures shipped or intermediate models on the same held-out users
// as the training run, on the CPU, without the GPU. It cannot train (no gradients through ONNX Runtime).
import type { DecoderSession } from '../../runtime/beam-search.ts';
import { encoderTokens } from '../../runtime/tokens.ts';
import type { OnnxSeedModel } from '../export/node-session.ts';
import { RewardDataError } from '../reward/errors.ts';
import type { AlignPolicy, DecoderBatch, DpoStepResult } from './policy.ts';

/** Encodes on the first step, then steps the bundle's decoder with its KV cache. */
class LazyDecoder implements DecoderSession {
  private inner: DecoderSession | null = null;
  constructor(private readonly model: OnnxSeedModel, private readonly tokens: Int32Array) {}

  async step(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    this.inner ??= await this.model.session(this.tokens);
    return this.inner.step(tokens, parents);
  }

  dispose(): void {
    this.inner?.dispose?.();
  }
}

export class OnnxPolicy implements AlignPolicy {
  readonly levels: number;
  readonly codebookSize: number;

  constructor(readonly model: OnnxSeedModel, private readonly codes: Uint16Array, readonly name: string) {
    this.levels = model.config.levels;
    this.codebookSize = model.config.codebookSize;
  }

  decoders(histories: readonly Int32Array[]): DecoderBatch {
    const { maxHistory } = this.model.config;
    const sessions = histories.map((h) => new LazyDecoder(this.model, encoderTokens(h.filter((v) => v >= 0), this.codes, this.levels, this.codebookSize, maxHistory)));
    return { sessions, finished: (i) => sessions[i].dispose(), release: () => {} };
  }

  sequenceLogProbs(): Promise<Float64Array> {
    return Promise.reject(new RewardDataError(`${this.name}: an ONNX bundle policy only generates (evaluation); train with the seed transformer`));
  }

  dpoStep(): Promise<DpoStepResult> {
    return Promise.reject(new RewardDataError(`${this.name}: an ONNX bundle policy only generates (evaluation); train with the seed transformer`));
  }
}
