/**
 * The storage capability's public API. Other capabilities store files in
 * buckets through StorageService, for example:
 *
 *   const storage = new StorageService(context);
 *   await storage.putObjectFromFile('backups', 'db/2024-05-01.sqlite', file);
 *   await storage.getObjectToFile('backups', 'db/2024-05-01.sqlite', target);
 */
export {
  StorageService,
  type PutObjectOptions,
  type GetObjectOptions,
  type CopyObjectOptions,
} from './service.js';
export type { BackendKind, BucketRecord } from './buckets.js';
export type { ObjectInfo, ObjectHeaders } from './types.js';
export { splitBucketPath, checkBucketName, checkKey } from './names.js';
export { STORAGE_MIGRATIONS } from './migrations.js';
