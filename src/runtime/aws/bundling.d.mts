/** esbuild settings shared by every AWS bundle (see bundling.mjs). */
export declare const ESM_REQUIRE_BANNER: string;
export declare const SHARED_BUNDLING: {
  readonly format: 'esm';
  readonly mainFields: string[];
  readonly banner: string;
  readonly sourcemap: true;
  readonly sourcesContent: false;
};
