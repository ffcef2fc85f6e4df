import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * Reads `--config FILE` (YAML or JSON): keys are the long option names in camelCase
 * (`port`, `dbPath`, `historyMaxChanges`, …). Flags given on the command line win.
 */
export function loadConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  const parsed: unknown = parse(text);
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`config file ${path} must hold a map of option → value`);
  return parsed as Record<string, unknown>;
}
