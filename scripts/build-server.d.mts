// Types of build-server.mjs, for the tests that import it.
export declare const CLI_FOLDERS: string[];
export declare const CLI_ADAPTERS: string[];
export declare const CLI_PACKAGES: string[];
export declare function boundaryViolations(inputs: string[], srcDir?: string): string[];
export declare function buildServerBundle(options: {
  entry: string;
  outdir: string;
  srcDir: string;
  cwd: string;
}): Promise<string[]>;
