import { Command } from 'commander';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify as toYaml } from 'yaml';
import { CfgError, KindNames, OBJECT_TYPES, type ConfigObject, type NewObject, type ObjectDelta, type ObjectFilter, type ObjectType } from '../../protocol/index.js';
import { ClientCore, type Notification } from '../client/client-core.js';
import { SCHEMA } from '../model/schema.js';
import { createLogger } from '../util/logger.js';
import { Progress } from '../util/progress.js';
import { EXIT, UsageError } from './exit-codes.js';
import { checkDocument, importDocument } from './import.js';
import { connectOptions, openClient, withClientOptions, type ClientFlags } from './client-options.js';

/** The commands that read and change the configuration: get, watch, put, rm, export, backup, import. */
export function addDataCommands(program: Command): void {
  withClientOptions(
    program
      .command('get <type>')
      .description('read objects of a type (e.g. `get dn --filter number=5001`)')
      .option('-f, --filter <key=value...>', 'dbid, name, tenant, folder, state or a property')
      .option('-q, --quiet', 'print only the dbids, a line each (for scripts)'),
  ).action(async (type: string, flags: ClientFlags & { filter?: string[]; quiet?: boolean }) => {
    const filter = parseFilter(objectType(type), flags.filter ?? []); // before connecting: a bad filter is a usage error
    const client = await openClient(flags);
    try {
      const objects = await client.readAll(objectType(type), filter);
      if (flags.json) process.stdout.write(`${JSON.stringify(objects, null, 2)}\n`);
      else if (flags.quiet) for (const o of objects) process.stdout.write(`${o.dbid}\n`);
      else for (const o of objects) process.stdout.write(`${o.type}\t${o.dbid}\t${o.name}\ttenant=${o.tenant}\tfolder=${o.folder}\t${o.state}\n`);
    } finally {
      await client.close();
    }
  });

  withClientOptions(
    program
      .command('watch [type]')
      .description('print change notifications as JSON lines until interrupted')
      .option('--tenant <dbid>', 'only this tenant')
      .option('--folder <dbid>', 'only this folder'),
  ).action(async (type: string | undefined, flags: ClientFlags & { tenant?: string; folder?: string }) => {
    const client = await ClientCore.connect({ ...(await connectOptions(flags)), clientName: 'cfgproxy-watch' });
    // One JSON line per notification, with the kind's name and the commit time in ISO 8601, as a
    // person or `jq` reads them; what happens to the connection goes to stderr.
    client.on('notification', (n: Notification) => process.stdout.write(`${JSON.stringify({ ...n, kind: KindNames[n.kind] ?? n.kind, at: new Date(n.at).toISOString() })}\n`));
    client.on('reset', (r) => process.stdout.write(`${JSON.stringify({ reset: r })}\n`));
    client.on('disconnected', (reason: { message?: string }) => process.stderr.write(`${new Date().toISOString()} disconnected (${reason.message ?? 'connection lost'}); reconnecting…\n`));
    client.on('connected', ({ endpoint, restored }: { endpoint: { host: string; port: number }; restored: boolean }) =>
      process.stderr.write(`${new Date().toISOString()} connected to ${endpoint.host}:${endpoint.port}${restored ? `, resumed after seq ${client.lastSeq}: nothing missed` : ''}\n`),
    );
    await client.subscribe({
      ...(type ? { type: objectType(type) } : {}),
      ...(flags.tenant ? { tenant: Number(flags.tenant) } : {}),
      ...(flags.folder ? { folder: Number(flags.folder) } : {}),
    });
    process.stderr.write(`watching from seq ${client.lastSeq}; Ctrl-C stops\n`);
    process.once('SIGINT', () => {
      client.close().then(() => process.exit(0), () => process.exit(1));
    });
  });

  withClientOptions(
    program
      .command('put [file]')
      .description('create objects (a JSON or YAML document, several separated by ---, or a list; type names in any case), or update one with a delta; from a file or stdin (-)')
      .option('--update <type:dbid>', 'apply the document as a delta to this object')
      .option('-q, --quiet', "print only each object's dbid, a line each (for scripts: dbid=$(cfgproxy put -q dn.yaml))"),
  ).action(async (file: string | undefined, flags: ClientFlags & { update?: string; quiet?: boolean }) => {
    const objects = readObjects(file);
    let target: { type: ObjectType; dbid: number } | undefined;
    if (flags.update) {
      const [type, dbid] = flags.update.split(':');
      if (dbid === undefined) throw new UsageError(`--update ${flags.update}: give type:dbid, e.g. DN:12`);
      target = { type: objectType(type!), dbid: dbidArgument(dbid, '--update') };
      if (objects.length > 1) throw new UsageError(`--update applies one delta; ${file ?? 'stdin'} holds ${objects.length}`);
    } else {
      for (const object of objects) {
        if (typeof object.type !== 'string') throw new UsageError(`every object needs a type (${OBJECT_TYPES.join(', ')})`);
        object.type = objectType(object.type);
      }
    }
    const client = await openClient(flags);
    try {
      for (const object of objects) {
        const result = target ? await client.update(target.type, target.dbid, object as ObjectDelta) : await client.create(object as unknown as NewObject);
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : flags.quiet ? `${result.dbid}\n` : `ok: dbid ${result.dbid}, seq ${result.seq}\n`);
      }
    } finally {
      await client.close();
    }
  });

  withClientOptions(program.command('rm <type> <dbid>').description('delete an object')).action(
    async (type: string, dbid: string, flags: ClientFlags) => {
      const target = { type: objectType(type), dbid: dbidArgument(dbid, 'rm') };
      const client = await openClient(flags);
      try {
        const result = await client.delete(target.type, target.dbid);
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `deleted: seq ${result.seq}\n`);
      } finally {
        await client.close();
      }
    },
  );

  withClientOptions(
    program
      .command('export')
      .description('print the whole configuration as one document (human-readable; for a restorable copy use `backup`)')
      .option('--yaml', 'YAML instead of JSON')
      .option('--with-credentials', "include each person's password hash (props.passwordHash), so `import` keeps logins working; needs an account that may load proxy snapshots (isAdmin or isProxy)"),
  ).action(async (flags: ClientFlags & { yaml?: boolean; withCredentials?: boolean }) => {
    const client = await ClientCore.connect({ ...(await connectOptions(flags)), reconnect: false, ...(flags.withCredentials ? { clientType: 'proxy' } : {}) });
    try {
      const objects: ConfigObject[] = [];
      const progress = new Progress('exporting', createLogger({ level: 'warn' }));
      if (flags.withCredentials) {
        // The one request that carries password hashes: a proxy's snapshot [PROTO-PROXY-2].
        const hashes = new Map<number, string>();
        await client.loadSnapshot((chunk) => {
          objects.push(...chunk.objects);
          for (const [dbid, hash] of chunk.credentials ?? []) hashes.set(dbid, hash);
          progress.update(objects.length, chunk.total);
        });
        for (const [index, object] of objects.entries()) {
          const hash = object.type === 'Person' ? hashes.get(object.dbid) : undefined;
          if (hash !== undefined) objects[index] = { ...object, props: { ...object.props, passwordHash: hash } };
        }
      } else {
        for (const type of OBJECT_TYPES) {
          for await (const object of client.read(type)) {
            objects.push(object);
            progress.update(objects.length, undefined);
          }
        }
      }
      progress.finish();
      const document = { cfgproxy: 1, seq: client.lastSeq, objects };
      process.stdout.write(flags.yaml ? toYaml(document) : `${JSON.stringify(document, null, 2)}\n`);
    } finally {
      await client.close();
    }
  });

  withClientOptions(
    program
      .command('backup <file>')
      .description("write a point-in-time copy of a running master's database (online: writes go on); start a master from it with `master --restore-from <file>` (administrators only)")
      .option('--force', 'overwrite <file> if it exists'),
  ).action(async (file: string, flags: ClientFlags & { force?: boolean }) => {
    if (existsSync(file) && !flags.force) throw new UsageError(`${file} exists; choose another name or add --force`);
    // A folder in the name that does not exist yet is made (for this user only: what lands in it holds password hashes).
    mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
    const client = await openClient(flags);
    const partial = `${file}.partial`;
    const out = openSync(partial, 'w', 0o600); // it holds every password hash
    try {
      const progress = new Progress('backing up', createLogger({ level: 'warn' }));
      let written = 0;
      const end = await client.backup((chunk) => {
        writeSync(out, chunk.data);
        written += chunk.data.length;
        progress.update(written, chunk.size);
      });
      const ms = progress.finish();
      closeSync(out);
      if (written !== end.size) throw new CfgError('CONNECTION_LOST', `the copy is incomplete (${written} of ${end.size} bytes)`);
      renameSync(partial, file);
      process.stderr.write(`backup of ${client.server?.serverName ?? 'the master'} written to ${file}: ${written.toLocaleString('en')} bytes at seq ${end.seq} (database ${end.lineage.id}, generation ${end.lineage.generation}) in ${ms} ms\n`);
      if (flags.json) process.stdout.write(`${JSON.stringify({ file, bytes: written, seq: end.seq, lineage: end.lineage, ms })}\n`);
    } finally {
      try {
        closeSync(out);
      } catch {
        // closed above
      }
      rmSync(partial, { force: true });
      await client.close();
    }
  });

  withClientOptions(
    program
      .command('import <file>')
      .description('create every object of an export document (JSON or YAML, - for stdin); references inside it are remapped to the new dbids'),
  ).action(async (file: string, flags: ClientFlags) => {
    const document = checkDocument(readDocument(file));
    const client = await openClient(flags);
    try {
      const progress = new Progress('importing', createLogger({ level: 'warn' }));
      const summary = await importDocument(client, document, (done, total) => progress.update(done, total));
      const ms = progress.finish();
      process.stderr.write(`imported ${document.objects.length} objects in ${ms} ms: ${summary.created} created, ${summary.reused} already there (kept), ${summary.failed.length} failed\n`);
      for (const failure of summary.failed.slice(0, 20)) process.stderr.write(`  ${failure.object} '${failure.name}': ${failure.code}: ${failure.message}\n`);
      if (summary.failed.length > 20) process.stderr.write(`  … and ${summary.failed.length - 20} more\n`);
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (summary.failed.length > 0) process.exitCode = EXIT.refused;
    } finally {
      await client.close();
    }
  });
}

export function objectType(value: string): ObjectType {
  const match = OBJECT_TYPES.find((type) => type.toLowerCase() === value.toLowerCase());
  if (!match) throw new UsageError(`unknown object type '${value}': one of ${OBJECT_TYPES.join(', ')}`);
  return match;
}

function readDocument(file: string | undefined): unknown {
  const text = readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  return parseYaml(text) as unknown;
}

/**
 * The objects of `put`'s input: one document, several YAML documents (`---`), or lists of objects,
 * each with its type name in any case (`dn`, `DN`); checked before anything is sent.
 */
function readObjects(file: string | undefined): Array<Record<string, unknown>> {
  const text = readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  const documents = parseAllDocuments(text);
  const objects: Array<Record<string, unknown>> = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new UsageError(`${file ?? 'stdin'} is not valid YAML or JSON: ${document.errors[0]!.message}`);
    const value = document.toJS() as unknown;
    for (const item of Array.isArray(value) ? value : value === null || value === undefined ? [] : [value]) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`${file ?? 'stdin'}: each object must be a map (type, name, tenant, props…)`);
      objects.push(item as Record<string, unknown>);
    }
  }
  if (objects.length === 0) throw new UsageError(`${file ?? 'stdin'} holds no object`);
  return objects;
}

/** A dbid given on the command line: a positive integer, or a usage error before anything is sent. */
function dbidArgument(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) === 0) throw new UsageError(`${what}: '${value}' is not a dbid (a positive integer)`);
  return Number(value);
}

/**
 * `key=value` filters, typed as the schema types the key (a DN's `number` is a string, an
 * Application's `port` a number), so a filter never silently matches nothing; what cannot match
 * is a usage error before anything is sent.
 */
function parseFilter(type: ObjectType, pairs: string[]): ObjectFilter {
  const filter: ObjectFilter = {};
  const props: Record<string, string | number | boolean> = {};
  const integer = (key: string, value: string): number => {
    if (!/^\d+$/.test(value)) throw new UsageError(`filter ${key}=${value}: ${key} is a number (a dbid)`);
    return Number(value);
  };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`filter '${pair}' is not key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === 'dbid' || key === 'tenant' || key === 'folder') filter[key] = integer(key, value);
    else if (key === 'name') filter.name = value;
    else if (key === 'state') {
      if (value !== 'enabled' && value !== 'disabled') throw new UsageError(`filter state=${value}: state is enabled or disabled`);
      filter.state = value;
    } else {
      const spec = SCHEMA[type][key];
      const filterable = Object.entries(SCHEMA[type]).filter(([, s]) => s.kind === 'string' || s.kind === 'int' || s.kind === 'bool' || s.kind === 'ref').map(([k]) => k);
      if (!spec || !filterable.includes(key)) {
        throw new UsageError(`filter ${key}=${value}: a ${type} has no property ${key} to filter on (dbid, name, tenant, folder, state${filterable.length ? `, ${filterable.join(', ')}` : ''})`);
      }
      if (spec.kind === 'string') props[key] = value;
      else if (spec.kind === 'bool') {
        if (value !== 'true' && value !== 'false') throw new UsageError(`filter ${key}=${value}: ${key} is true or false`);
        props[key] = value === 'true';
      } else props[key] = integer(key, value);
    }
  }
  if (Object.keys(props).length > 0) filter.props = props;
  return filter;
}
