import { DataDir, LAYOUT, resolveDataDir } from './data-dir.js';
import { silentLogger, type Logger } from './logger.js';
import { ALL_MIGRATIONS } from './migrations.js';
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

  close(): void {
    this.stateDb?.close();
    this.stateDb = undefined;
  }
}
