/**
 * A server cannot start as it was set up (a port in use, a certificate that is not one): nothing
 * the server could retry. The message names the option to change; the CLI exits with code 2, as
 * for any usage mistake.
 */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}
