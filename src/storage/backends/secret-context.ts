/** Sealing context of a bucket's remote secret, so a sealed value cannot be moved to another bucket. */
export function secretContext(bucket: string): string {
  return `storage-bucket:${bucket}`;
}
