import { accessSync, constants } from 'node:fs';
import type { Command } from 'commander';
import { envName, optionPicker, type OptionValue } from './option-sources.js';
import { UsageError } from './exit-codes.js';

/**
 * What an option holds, which says how it is read and checked:
 * `text` as given; `switch` on or off; `count` an integer (≥ `min`, default 0); `seconds` a number
 * of seconds (≥ `min`), read as milliseconds; `port` 0–65535; `file` a
 * readable file; `list` comma-separated; `choice` one of `choices`.
 */
export type OptionKind = 'text' | 'switch' | 'count' | 'seconds' | 'port' | 'file' | 'list' | 'choice';

/**
 * One server option, declared once: the commander option, its environment variable, its config
 * file key (the long name, kebab or camel case), its unit and its check all come from here, as in
 * etcd's and NATS's flag tables.
 */
export interface OptionSpec {
  /** The long flag with its argument: `--history-max-age <seconds>`, or `--writable` for a switch. */
  flag: string;
  /** `-u`, for the few options that have one. */
  short?: string;
  kind: OptionKind;
  help: string;
  /** In the option's own unit (seconds for `seconds`). */
  default?: string | number;
  min?: number;
  choices?: readonly string[];
  /** An environment variable other than `CFGPROXY_<NAME>`. */
  env?: string;
}

function longName(spec: OptionSpec): string {
  return spec.flag.split(' ')[0];
}

function attribute(spec: OptionSpec): string {
  return longName(spec).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function envOf(spec: OptionSpec): string {
  return spec.env ?? envName(attribute(spec));
}

/** Adds the options to a command, each with its environment variable in the help. */
export function declareOptions(command: Command, specs: readonly OptionSpec[]): Command {
  for (const spec of specs) {
    const flags = spec.short ? `${spec.short}, ${spec.flag}` : spec.flag;
    const help = `${spec.help} [env ${envOf(spec)}]`;
    if (spec.default === undefined) command.option(flags, help);
    else command.option(flags, help, String(spec.default));
  }
  return command;
}

/**
 * A server command's option values, each from the command line, the environment, `--config` or
 * its default (in that order), converted to its unit and checked. A value that does not fit is a
 * usage error (exit 2) that names the flag, the value and where it came from.
 */
export class OptionValues {
  private readonly specs = new Map<string, OptionSpec>();
  private readonly pick: (key: string) => OptionValue;

  constructor(
    private readonly command: Command,
    specs: readonly OptionSpec[],
    configPath: string | undefined,
  ) {
    const envNames: Record<string, string> = {};
    for (const spec of specs) {
      this.specs.set(longName(spec), spec);
      if (spec.env) envNames[attribute(spec)] = spec.env;
    }
    this.pick = optionPicker(command, configPath, envNames);
  }

  text(flag: string): string | undefined {
    const value = this.raw(flag, 'text');
    return value === undefined || value === '' ? undefined : String(value);
  }

  switch(flag: string): boolean {
    return this.raw(flag, 'switch') === true;
  }

  count(flag: string): number {
    const value = this.numeric(flag, 'count');
    if (!Number.isInteger(value)) this.fail(flag, 'a whole number');
    return value;
  }

  /** A number of seconds, in milliseconds. */
  ms(flag: string): number {
    return Math.round(this.numeric(flag, 'seconds') * 1000);
  }

  port(flag: string): number | undefined {
    const raw = this.raw(flag, 'port');
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0 || value > 65535) this.fail(flag, 'a port number from 0 to 65535 (0 picks a free one)');
    return value;
  }

  /** A file that must exist and be readable, named as given. */
  file(flag: string): string | undefined {
    const raw = this.raw(flag, 'file');
    if (raw === undefined || raw === '') return undefined;
    const path = String(raw);
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.fail(flag, code === 'ENOENT' ? 'an existing file' : 'a file this user may read', code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path} (${code})`);
    }
    return path;
  }

  list(flag: string): string[] {
    return String(this.raw(flag, 'list') ?? '').split(',').map((item) => item.trim()).filter(Boolean);
  }

  choice<T extends string>(flag: string): T | undefined {
    const spec = this.spec(flag, 'choice');
    const value = this.raw(flag, 'choice');
    if (value === undefined) return undefined;
    if (!spec.choices!.includes(String(value))) this.fail(flag, `one of ${spec.choices!.join(', ')}`);
    return String(value) as T;
  }

  private numeric(flag: string, kind: 'count' | 'seconds'): number {
    const spec = this.spec(flag, kind);
    const raw = this.raw(flag, kind);
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : typeof raw === 'number' ? raw : NaN;
    const min = spec.min ?? 0;
    if (!Number.isFinite(value) || value < min) this.fail(flag, `a number, ${min} or more`);
    return value;
  }

  private raw(flag: string, kind: OptionKind): OptionValue {
    return this.pick(attribute(this.spec(flag, kind)));
  }

  private spec(flag: string, kind: OptionKind | undefined): OptionSpec {
    const spec = this.specs.get(flag);
    // A wiring mistake, not the user's: a test catches it.
    if (!spec) throw new Error(`${flag} is not an option of cfgproxy ${this.command.name()}`);
    if (kind !== undefined && spec.kind !== kind) throw new Error(`${flag} is a ${spec.kind} option, read as ${kind}`);
    return spec;
  }

  private fail(flag: string, expected: string, detail?: string): never {
    const spec = this.spec(flag, undefined);
    const key = attribute(spec);
    const value = this.pick(key);
    const from = this.command.getOptionValueSource(key) === 'cli' ? '' : process.env[envOf(spec)] ? ` (from ${envOf(spec)})` : '';
    throw new UsageError(`${flag} must be ${expected}${detail ? `: ${detail}` : ` (got '${String(value)}')`}${from}`);
  }
}
