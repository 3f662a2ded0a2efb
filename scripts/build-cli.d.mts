/** Types of build-cli.mjs, for the test setup. */
export declare const DIST: string;
export declare const MANIFEST: string;
export declare function isBuildFresh(dist?: string): boolean;
export declare function buildCli(): Promise<boolean>;
