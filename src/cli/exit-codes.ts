/** Exit codes: 0 ok, 1 request refused by the server, 2 usage, 3 cannot connect or authenticate. */
export const EXIT = { ok: 0, refused: 1, usage: 2, connection: 3 } as const;

/** A command-line mistake: exit code 2, the message on stderr, nothing sent anywhere. */
export class UsageError extends Error {}
