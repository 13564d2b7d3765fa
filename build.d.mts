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
/** The kernels compiled to WebAssembly (`relaxed`: with relaxed SIMD too). */
export declare function compileKernels(options?: { relaxed?: boolean }): Promise<Uint8Array>;
/** The source of runtime/wasm/kernels-wasm.ts for the two builds. */
export declare function kernelsModule(binary: Uint8Array, relaxedBinary: Uint8Array): string;
