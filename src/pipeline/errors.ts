/**
 * The two kinds of error the code base raises on purpose. Here, in the lowest layer, so that every
 * layer can throw them and the two places that report errors decide with one `instanceof` each:
 * the CLI prints a `UserError` as one line and exits with its code; the edge answers an
 * `AwsApiError` in the shape AWS clients parse. Any other error is a bug (the CLI says so).
 */

/** An error that is the user's to fix: one line, a non-zero exit code, never a stack trace. */
export class UserError extends Error {
  /** The process exit code: 2 (bad input, a bad option, a busy or unusable state directory). */
  readonly exitCode: number = 2;

  constructor(message: string, options?: ErrorOptions & { exitCode?: number }) {
    super(message, options);
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
    // Subclasses are named after themselves in stack traces and `etl up`'s logs.
    this.name = new.target.name;
  }
}

/** An error an AWS API answers with: AWS's error code (what SDKs build their exception from), its message and HTTP status. */
export class AwsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}
