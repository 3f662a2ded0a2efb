/** Bundles the extract task (src/runtime/aws/task/main.ts) into `<outdir>/extract-task.mjs`. */
export declare function buildExtractTask(outdir: string): Promise<void>;
