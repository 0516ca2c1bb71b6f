// Oversized CSR requests dropped from a response's bytes before it is parsed (security review,
// finding 1): a LIST page, a watch line or a written object may hold ~2 MB base64 requests,
// and JSON.parse would make a string of each, megabytes of garbage per CSR. The value of
// `spec.request` (a key "request" in an object under a key "spec") longer than
// MAX_SPEC_REQUEST_CHARS is replaced by "" and followed by `"requestLength":<its length>`,
// which the compact form reads (core/request-size.ts). Everything else is copied as it is.
// One pass over the bytes, tracking only strings and nesting; anything unexpected (an escape
// inside the value) leaves that value as it is: then it is merely parsed as before.
import { MAX_SPEC_REQUEST_CHARS } from "../core/request-size.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const KEY_BYTES = 16; // longer keys are never "spec" or "request"

interface Level {
  object: boolean;
  /** The key whose value comes next (objects), or undefined. */
  key?: string;
  /** The key this container is the value of in its parent. */
  parentKey?: string;
  expectKey: boolean;
}

/** The index of the quote that ends the string whose content starts at `from`, or -1. */
function stringEnd(buf: Buffer, from: number): number {
  for (let at = buf.indexOf(QUOTE, from); at >= 0; at = buf.indexOf(QUOTE, at + 1)) {
    let slashes = 0;
    while (at - 1 - slashes >= from && buf[at - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return at;
  }
  return -1;
}

export function stripLargeRequests(buf: Buffer): Buffer {
  // Nothing to do unless some string is long enough to be one.
  if (buf.length <= MAX_SPEC_REQUEST_CHARS) return buf;
  const parts: Buffer[] = [];
  let copiedTo = 0;
  const stack: Level[] = [];
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    const top = stack[stack.length - 1];
    if (c === QUOTE) {
      const end = stringEnd(buf, i + 1);
      if (end < 0) return buf; // truncated: leave it to the parser to say so
      if (top?.object && top.expectKey) {
        top.key = end - i - 1 <= KEY_BYTES ? buf.toString("latin1", i + 1, end) : undefined;
        top.expectKey = false;
      } else if (top?.object && top.key === "request" && top.parentKey === "spec") {
        const length = end - i - 1;
        if (length > MAX_SPEC_REQUEST_CHARS && buf.subarray(i + 1, end).indexOf(BACKSLASH) < 0) {
          parts.push(buf.subarray(copiedTo, i), Buffer.from(`"","requestLength":${length}`));
          copiedTo = end + 1;
        }
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({
        object: c === 0x7b,
        parentKey: top?.object ? top.key : top?.parentKey,
        expectKey: c === 0x7b,
      });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      if (top?.object) top.expectKey = true;
    }
  }
  if (parts.length === 0) return buf;
  parts.push(buf.subarray(copiedTo));
  return Buffer.concat(parts);
}
