// Types of build.mjs's export for TypeScript callers (tests, bench).
export interface BuildBrowserOptions {
  outdir: string;
  entries: Record<string, string>; // output name → entry path relative to the repo root
  staticDir?: string;
  watch?: boolean;
  quiet?: boolean;
}
export declare function buildBrowser(options: BuildBrowserOptions): Promise<unknown>;
