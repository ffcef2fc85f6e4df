/**
 * About how many bytes an object takes on the wire: its strings and a few bytes per value. Cheap
 * (no encoding), and close enough to keep a chunk of objects well under every frame limit.
 */
export function approximateBytes(value: unknown): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  let total = 5;
  if (Array.isArray(value)) for (const item of value) total += approximateBytes(item);
  else for (const [key, item] of Object.entries(value)) total += key.length + 1 + approximateBytes(item);
  return total;
}
