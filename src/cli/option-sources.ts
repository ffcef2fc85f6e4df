import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { UsageError } from './exit-codes.js';


export type OptionValue = string | boolean | undefined;

/** `historyMaxChanges` → `CFGPROXY_HISTORY_MAX_CHANGES`. */
export function envName(key: string): string {
  return `CFGPROXY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Reads `--config FILE` (YAML or JSON): a map whose keys are the command's long option names,
 * as written on the command line (`history-max-changes`) or in camelCase (`historyMaxChanges`).
 * A key the command does not have is an error naming it and the file: a misspelt key must not
 * be ignored.
 */
export function loadConfigFile(path: string | undefined, known: ReadonlySet<string>): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new UsageError(`config file ${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`config file ${path} must hold a map of option → value`);
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const name = camel(key);
    if (!known.has(name)) throw new UsageError(`config file ${path}: unknown option '${key}' (keys are this command's long options, e.g. ${[...known].slice(0, 3).join(', ')})`);
    values[name] = value;
  }
  return values;
}

/**
 * Where each option of a server command comes from, the first that has it: the command line,
 * the environment (`CFGPROXY_<OPTION>`, or a name given in `envNames`), the config file, the
 * default. The same order as etcd documents for its own flags.
 */
export function optionPicker(command: Command, configPath: string | undefined, envNames: Readonly<Record<string, string>> = {}): (key: string) => OptionValue {
  const known = new Set(command.options.map((option) => option.attributeName()));
  const switches = new Set(command.options.filter((option) => option.isBoolean()).map((option) => option.attributeName()));
  const file = loadConfigFile(configPath, known);
  const flags = command.opts<Record<string, OptionValue>>();
  return (key) => {
    if (command.getOptionValueSource(key) === 'cli') return flags[key];
    const variable = envNames[key] ?? envName(key);
    const fromEnv = process.env[variable];
    if (fromEnv !== undefined && fromEnv !== '') return switches.has(key) ? switchValue(variable, fromEnv) : fromEnv;
    const fromFile = file[key];
    if (fromFile !== undefined) return typeof fromFile === 'boolean' ? fromFile : String(fromFile);
    return flags[key];
  };
}

/** A switch from the environment: `CFGPROXY_X=false` must not turn X on (any non-empty string is truthy). */
function switchValue(variable: string, text: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  throw new UsageError(`${variable} must be true or false (or 1/0, yes/no, on/off), not '${text}'`);
}
