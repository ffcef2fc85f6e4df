import { postgresBinDir } from '../../bench/pg-cluster.js';
import { requireCapability } from './tools.js';

export { startPostgres, type TestPostgres } from '../../bench/pg-cluster.js';

/** Whether PostgreSQL tests run: outside CI they skip with a message when it is missing, in CI they fail. */
export function requirePostgres(): boolean {
  return requireCapability('PostgreSQL (Debian package postgresql)', postgresBinDir() !== undefined);
}
