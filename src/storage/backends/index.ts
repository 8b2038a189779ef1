import type { Context } from '../../core/context.js';
import type { BucketRecord } from '../buckets.js';
import type { Backend } from '../types.js';
import { DiskBackend } from './disk.js';

/** Creates the backend of a bucket; remote clients load only when used. */
export async function createBackend(
  context: Context,
  record: BucketRecord,
  bucketDir: string,
): Promise<Backend> {
  switch (record.backend) {
    case 'local':
      return new DiskBackend(context.state, record.name, bucketDir);
    case 's3': {
      const { S3Backend } = await import('./s3.js');
      return S3Backend.fromConfig(context, record);
    }
    case 'azure': {
      const { AzureBackend } = await import('./azure.js');
      return AzureBackend.fromConfig(context, record);
    }
  }
}
