import { UserError, type ErrorKind } from '../core/errors.js';

/**
 * S3 error codes that opsbox returns, with the HTTP status S3 gives each and
 * the opsbox error kind (which sets the CLI's exit code).
 */
const S3_ERRORS = {
  AccessDenied: [403, 'permission'],
  BadDigest: [400, 'invalid'],
  BucketAlreadyExists: [409, 'conflict'],
  BucketAlreadyOwnedByYou: [409, 'conflict'],
  BucketNotEmpty: [409, 'conflict'],
  ConditionalRequestConflict: [409, 'conflict'],
  EntityTooLarge: [400, 'limit'],
  EntityTooSmall: [400, 'invalid'],
  IncompleteBody: [400, 'invalid'],
  InternalError: [500, 'unavailable'],
  InvalidAccessKeyId: [403, 'permission'],
  InvalidArgument: [400, 'invalid'],
  InvalidBucketName: [400, 'invalid'],
  InvalidChunkSizeError: [403, 'invalid'],
  InvalidDigest: [400, 'invalid'],
  InvalidPart: [400, 'invalid'],
  InvalidPartOrder: [400, 'invalid'],
  InvalidRange: [416, 'invalid'],
  InvalidRequest: [400, 'invalid'],
  InvalidURI: [400, 'invalid'],
  KeyTooLongError: [400, 'invalid'],
  MalformedXML: [400, 'invalid'],
  MethodNotAllowed: [405, 'usage'],
  MissingContentLength: [411, 'invalid'],
  MissingSecurityHeader: [400, 'invalid'],
  NoSuchBucket: [404, 'not_found'],
  NoSuchKey: [404, 'not_found'],
  NoSuchUpload: [404, 'not_found'],
  NotImplemented: [501, 'usage'],
  NotModified: [304, 'conflict'],
  PreconditionFailed: [412, 'conflict'],
  RequestTimeTooSkewed: [403, 'permission'],
  SignatureDoesNotMatch: [403, 'permission'],
  XAmzContentSHA256Mismatch: [400, 'invalid'],
  AuthorizationQueryParametersError: [400, 'invalid'],
  ExpiredToken: [400, 'permission'],
} satisfies Record<string, [number, ErrorKind]>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

/** Creates the UserError for an S3 error code; the code travels as `error.code`. */
export function s3Error(code: S3ErrorCode, message: string, cause?: unknown): UserError {
  const [, kind] = S3_ERRORS[code];
  return new UserError(kind as ErrorKind, message, { code, cause });
}

/** Returns the S3 status and code for a UserError raised anywhere in opsbox. */
export function s3StatusOf(error: UserError): { status: number; code: string } {
  const known = (S3_ERRORS as Record<string, [number, ErrorKind]>)[error.code];
  if (known) return { status: known[0], code: error.code };
  if (error.kind === 'not_found') return { status: 404, code: 'NoSuchKey' };
  if (error.kind === 'permission') return { status: 403, code: 'AccessDenied' };
  if (error.kind === 'busy' || error.kind === 'unavailable')
    return { status: 503, code: 'ServiceUnavailable' };
  return { status: error.httpStatus, code: 'InvalidRequest' };
}
