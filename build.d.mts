// Types of build.mjs's export for TypeScript callers (tests, bench).
export interface BuildBrowserOptions {
  outdir: string;
  entries: Record<string, string>; // output name → entry path relative to the repo root
  staticDir?: string;
  watch?: boolean;
  quiet?: boolean;
}
export declare function buildBrowser(options: BuildBrowserOptions): Promise<unknown>;
/** asc's flags for runtime/wasm/assembly/kernels.ts. */
export declare const KERNEL_FLAGS: string[];
/** The four builds of the kernels and the names of their constants in runtime/wasm/kernels-wasm.ts. */
export declare const KERNEL_BUILDS: { name: string; relaxed: boolean; shared: boolean }[];
/** The kernels compiled to WebAssembly (`relaxed`: with relaxed SIMD too; `shared`: over a shared memory). */
export declare function compileKernels(options?: { relaxed?: boolean; shared?: boolean }): Promise<Uint8Array>;
/** The source of runtime/wasm/kernels-wasm.ts for the builds, in KERNEL_BUILDS' order. */
export declare function kernelsModule(binaries: Uint8Array[]): string;
/** The runtime package's folder (packages/onerec-web) and the pipeline package's (packages/onerec-pipeline). */
export declare const RUNTIME_PACKAGE: string;
export declare const PIPELINE_PACKAGE: string;
/** The runtime package's lib/ (`npm run build:lib`). */
export declare function buildLibrary(): Promise<void>;
/** The pipeline package's copied folders and built demo page (`node build.mjs --pipeline`). */
export declare function stagePipeline(): Promise<void>;
