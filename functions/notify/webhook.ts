// POST to a Slack incoming webhook with bounded retries, paced (notify/pacer.ts).
//
// The webhook URL is a credential (anyone holding it can post to the channel), so it never
// leaves this module: results and errors describe the attempt by status and Slack's short
// error code only, and any text that might echo the URL is scrubbed before it is returned.

export interface PostOptions {
  /** Total attempts, the first included. */
  maxAttempts: number;
  /** Backoff before retry n (1-based): min(maxDelayMs, baseDelayMs · 2^(n-1)) plus jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** A Retry-After longer than this is not waited for: the attempt gives up instead. */
  maxRetryAfterMs: number;
  /** Stops retrying when the next wait would not leave this much time (Lambda deadline). */
  remainingMillis?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * Spaces every attempt (retries included) within the webhook's rate limit and remembers
   * a 429's Retry-After for later posts. None: no pacing.
   */
  pacer?: Pacer;
}

export const DEFAULT_POST_OPTIONS: PostOptions = {
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  timeoutMs: 10_000,
  maxRetryAfterMs: 30_000,
};

import type { Pacer } from "./pacer.js";

export interface AttemptRecord {
  attempt: number;
  /** HTTP status, or 0 when no response arrived (network error, timeout). */
  status: number;
  /** Slack's error code (`invalid_payload`, `no_service`, …) or the network error's code. */
  detail: string;
}

export type PostResult =
  | { ok: true; attempts: AttemptRecord[] }
  | { ok: false; attempts: AttemptRecord[]; retryable: boolean; reason: string };

export async function postToWebhook(
  url: string,
  payload: unknown,
  options: Partial<PostOptions> = {},
): Promise<PostResult> {
  const opts = { ...DEFAULT_POST_OPTIONS, ...options };
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = opts.random ?? Math.random;
  const body = JSON.stringify(payload);
  const attempts: AttemptRecord[] = [];

  for (let attempt = 1; ; attempt++) {
    if (opts.pacer) {
      // Wait for our turn, but not past the point where the request itself no longer fits
      // before the deadline: then the invocation fails and Lambda retries it later.
      const room = opts.remainingMillis ? opts.remainingMillis() - opts.timeoutMs : Number.POSITIVE_INFINITY;
      if (!(await opts.pacer.acquire(room))) {
        return {
          ok: false,
          attempts,
          retryable: true,
          reason: `rate limit: no time left in this invocation for the next paced post (attempt ${attempt})`,
        };
      }
    }
    let status = 0;
    let detail: string;
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8" },
        body,
        redirect: "error", // a webhook never redirects; following one could leak the payload
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      status = response.status;
      detail = scrub(await readShort(response), url);
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
    } catch (error) {
      detail = describeNetworkError(error, url);
    }
    attempts.push({ attempt, status, detail });
    if (status >= 200 && status < 300) return { ok: true, attempts };

    const retryable = status === 0 || status === 429 || status >= 500;
    if (!retryable) {
      return { ok: false, attempts, retryable, reason: `HTTP ${status} ${detail}`.trim() };
    }
    if (attempt >= opts.maxAttempts) {
      return {
        ok: false,
        attempts,
        retryable,
        reason: `gave up after ${attempt} attempts: ${summary(status, detail)}`,
      };
    }
    let waitMs: number;
    if (retryAfterMs !== undefined) opts.pacer?.holdOff(retryAfterMs);
    if (retryAfterMs !== undefined) {
      if (retryAfterMs > opts.maxRetryAfterMs) {
        return {
          ok: false,
          attempts,
          retryable,
          reason: `Retry-After ${Math.ceil(retryAfterMs / 1000)} s exceeds the ${opts.maxRetryAfterMs / 1000} s we wait`,
        };
      }
      waitMs = retryAfterMs;
    } else {
      const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
      waitMs = Math.round(backoff * (0.5 + random() / 2)); // "equal jitter"
    }
    // Leave time for the next request itself before the function's deadline.
    if (opts.remainingMillis && opts.remainingMillis() < waitMs + opts.timeoutMs) {
      return { ok: false, attempts, retryable, reason: `no time left to retry: ${summary(status, detail)}` };
    }
    await sleep(waitMs);
  }
}

function summary(status: number, detail: string): string {
  return status === 0 ? `no response (${detail})` : `HTTP ${status} ${detail}`.trim();
}

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent/invalid. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Slack answers with a short code (`ok`, `invalid_blocks`, …); anything longer is cut. */
async function readShort(response: Response): Promise<string> {
  try {
    const text = await response.text();
    return text.replace(/\s+/g, " ").trim().slice(0, 200);
  } catch {
    return "";
  }
}

/** The error's code and name only: messages of network errors can carry the URL. */
function describeNetworkError(error: unknown, url: string): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    parts.push(typeof code === "string" ? code : current.name);
    current = (current as Error & { cause?: unknown }).cause;
  }
  return scrub(parts.join(" <- ") || "unknown error", url);
}

/** Removes the URL and its secret path from a text, whatever form it appears in. */
export function scrub(text: string, url: string): string {
  let out = text;
  const forms = new Set<string>([url]);
  try {
    const parsed = new URL(url);
    forms.add(parsed.href);
    if (parsed.pathname.length > 1) forms.add(parsed.pathname);
    for (const segment of parsed.pathname.split("/")) if (segment.length >= 6) forms.add(segment);
  } catch {
    // not a URL: only the literal text is scrubbed
  }
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form !== "") out = out.split(form).join("[redacted]");
  }
  return out;
}
