import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url).pathname;

/**
 * The fenced block after `<!-- tested: name -->` in the README, as lines, continuation lines
 * (`\` at the end) joined: the tests run what the README shows, so it cannot drift.
 */
export function readmeBlock(name: string): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(`<!-- tested: ${name} -->`);
  if (start < 0) throw new Error(`README has no block '${name}'`);
  const from = text.indexOf('\n', text.indexOf('```', start)) + 1;
  const body = text.slice(from, text.indexOf('\n```', from));
  const lines = body.replace(/\\\n\s*/g, '').split('\n').filter((line) => line.trim() !== '');
  // An empty block would let a test pass on nothing.
  if (lines.length === 0) throw new Error(`README block '${name}' is empty`);
  return lines;
}
