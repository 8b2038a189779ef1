import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

import { s3Error } from '../errors.js';

const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
});
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  // rclone (Go's encoding/xml) writes the quotes of an ETag as &#34;.
  htmlEntities: true,
  isArray: (name) => name === 'Part' || name === 'Object',
});

/** Builds an S3 XML response with the S3 namespace on the root element. */
export function xmlDocument(root: string, body: Record<string, unknown>, namespace = true): string {
  const element = namespace ? { '@_xmlns': S3_NAMESPACE, ...body } : body;
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + builder.build({ [root]: element });
}

/** Parses a request body (CompleteMultipartUpload, Delete, CreateBucketConfiguration); MalformedXML when it is not XML. */
export function parseXml(text: string, root: string): Record<string, any> {
  if (text.trim() === '' || XMLValidator.validate(text) !== true) {
    throw s3Error(
      'MalformedXML',
      `The XML you provided was not well-formed or did not validate against the ${root} schema.`,
    );
  }
  const parsed = parser.parse(text) as Record<string, any>;
  const body = parsed[root];
  if (body === undefined || typeof body !== 'object') {
    throw s3Error('MalformedXML', `The XML body has no <${root}> root element.`);
  }
  return body;
}
