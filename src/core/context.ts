import { DataDir, LAYOUT, resolveDataDir } from './data-dir.js';
import { silentLogger, type Logger } from './logger.js';
import { ALL_MIGRATIONS, ALL_PG_MIGRATIONS } from './migrations.js';
import { PostgresState, databaseUrl } from './postgres-state.js';
import { openStateDb, type StateDb } from './state.js';

/**
 * What every service needs: the data directory, the state store (opened on
 * first use) and a logger. The CLI builds one per command; `opsbox serve`
 * builds one for the life of the server.
 */
export class Context {
  readonly dataDir: DataDir;
  readonly logger: Logger;
  private stateDb?: StateDb;
  private postgresState?: PostgresState | null;

  constructor(options: { dataDir?: string; logger?: Logger } = {}) {
    this.dataDir = new DataDir(resolveDataDir(options.dataDir));
    this.logger = options.logger ?? silentLogger();
  }

  get state(): StateDb {
    if (!this.stateDb) {
      this.dataDir.ensure();
      this.stateDb = openStateDb(this.dataDir.path(LAYOUT.state), ALL_MIGRATIONS);
    }
    return this.stateDb;
  }

  /**
   * The shared state store on PostgreSQL when OPSBOX_DATABASE_URL is set:
   * workflow runs, the run queue and secrets live there, so that servers
   * and workers on several machines share them.
   */
  get postgres(): PostgresState | undefined {
    if (this.postgresState === undefined) {
      const url = databaseUrl();
      this.postgresState = url ? new PostgresState(url, ALL_PG_MIGRATIONS) : null;
    }
    return this.postgresState ?? undefined;
  }

  close(): void {
    this.stateDb?.close();
    this.stateDb = undefined;
    void this.postgresState?.end().catch(() => undefined);
    this.postgresState = undefined;
  }
}
