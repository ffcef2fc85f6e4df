/**
 * Escaping of a user's name where it meets LDAP syntax, so that no name can change what is asked:
 * `*` cannot widen a search, `)(` cannot add a clause, `,` cannot name another entry.
 */

/** A value inside a search filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL as `\hh`. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * An attribute value inside a DN (RFC 4514 §2.4): the special characters backslash-escaped, a
 * leading `#` or space and a trailing space too, and control characters (NUL among them) as `\hh`.
 */
export function escapeDnValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- RFC 4514 escapes control characters as hex pairs
  let escaped = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (escaped.startsWith('#') || escaped.startsWith(' ')) escaped = `\\${escaped}`;
  if (escaped.endsWith(' ') && !escaped.endsWith('\\ ')) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

/** `template` with every `{user}` replaced by `user`, escaped by `escape`. */
export function fillTemplate(template: string, user: string, escape: (value: string) => string): string {
  return template.split('{user}').join(escape(user));
}
