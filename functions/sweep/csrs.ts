// The Kubernetes edge of the sweep: list kubelet-serving CSRs page by page, list Nodes
// for the providerID cross-check, and write conditions through the approval subresource.
// Thin by design: no policy here, only transport, timeouts and the 409 protocol.
//
// Plain HTTPS + JSON on node:https rather than @kubernetes/client-node: the sweep needs five
// calls, and the client (with undici) was 1.8 MB of the 3.5 MB approver bundle, doubled its
// cold start, and opened a new TLS connection for every request (it builds a new dispatcher
// per call). Here one keep-alive agent per client reuses the connection (bench/, docs/benchmarks.md).
import { Agent, request as httpsRequest } from "node:https";
import type { IncomingMessage } from "node:http";
import * as v from "valibot";
import { compactCsr, requestTooLarge } from "../core/request-size.js";
import { stripLargeRequests } from "./strip-requests.js";
import {
  KUBELET_SERVING_SIGNER,
  type CsrCondition,
  type CsrObject,
  type Decision,
  type NodeObject,
} from "../core/types.js";
import {
  CsrSchema,
  ListSchema,
  nameOf,
  NodeSchema,
  problemOf,
  unreadableCsrDecision,
  WatchEventSchema,
} from "./k8s-schemas.js";

export interface KubeEndpoint {
  name: string; // cluster name, for error messages only
  endpoint: string; // https://…
  caData?: string; // base64 PEM bundle; absent: the system trust store
  token: string; // bearer token; "" when the client certificate alone authenticates
  /** A kubeconfig's client certificate and key (PEM), from its files, data or exec plugin. */
  clientCert?: string;
  clientKey?: string;
  /** A kubeconfig's tls-server-name: the name the serving certificate is checked against. */
  serverName?: string;
}

/**
 * A CSR as read: its compact form (core/request-size.ts), which the policy sees, and the API
 * object as served, to be written back, only when that is small: an oversized spec.request is
 * left out of it (""; the approval subresource keeps the stored spec whatever the body says),
 * and any other large object is not kept at all (replaceConditions reads it again just before
 * writing). So a listing never keeps a large object.
 */
export interface ReadCsr {
  csr: CsrObject;
  raw?: ApiCsr;
  /**
   * Set when the served object failed CsrSchema (k8s-schemas.ts): its decision, a `wait`. `csr`
   * is then a stand-in holding only its name, requester and resourceVersion (no signer: the
   * policy would skip it), and `raw` is absent, so nothing is ever written to it.
   */
  unreadable?: Decision;
}

/** A CSR exactly as the apiserver served it (JSON), unknown fields included. */
export type ApiCsr = CsrObject & Record<string, unknown>;

/** What one paginated listing cost, and the resourceVersion of its snapshot (to watch from). */
export interface ListStats {
  pages: number;
  items: number;
  resourceVersion?: string;
  /** Pages asked for again with a smaller `limit` because they were over MAX_RESPONSE_BYTES. */
  shrunk?: number;
}

/** How a watch ended: the last resourceVersion seen, and whether the server said it is too old (410). */
export interface WatchEnd {
  resourceVersion?: string;
  expired: boolean;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export const DEFAULT_PAGE_SIZE = 500;

export interface KubeApi {
  /**
   * Lists kubelet-serving CSRs in pages of `pageSize` (limit/continue) and hands each one to
   * `visit` as its page arrives, so the caller keeps only what it needs: memory follows the
   * CSRs kept, not the cluster's history.
   */
  listKubeletServingCsrs(visit: (read: ReadCsr) => void, pageSize?: number): Promise<ListStats>;
  listNodes(): Promise<NodeObject[]>;
  /** One Node (name and providerID), or undefined when there is none. */
  readNode(name: string): Promise<NodeObject | undefined>;
  readCsr(name: string): Promise<ReadCsr>;
  /** PUT …/approval with the resourceVersion read earlier; throws KubeError (status 409 on conflict). */
  replaceConditions(read: ReadCsr, conditions: CsrCondition[]): Promise<ReadCsr>;
  /**
   * Watches kubelet-serving CSRs from `resourceVersion` (absent: from now) and hands every
   * event with its object to onEvent until `signal` aborts; resolves when the watch ends
   * (abort, server close or error) with the last resourceVersion seen, so the caller resumes
   * from there; `expired` when the server no longer has that version (410: list again).
   */
  watchKubeletServingCsrs(
    onEvent: (type: WatchEventType, read: ReadCsr) => void,
    signal: AbortSignal,
    resourceVersion?: string,
  ): Promise<WatchEnd>;
}

/** A Kubernetes API failure with the HTTP status when there was one (0: transport or timeout). */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "KubeError";
  }
}

export interface KubeClientOptions {
  timeoutMs?: number; // per request
}

const CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const KUBELET_SERVING_SELECTOR = `spec.signerName=${KUBELET_SERVING_SIGNER}`;
/**
 * Bytes of one response body (a LIST page, a watch line, an object). A CSR is at most
 * etcd's 1.5 MiB, so one always fits; a page that does not is asked for again with a smaller
 * `limit`. This bounds what a listing holds at once, whatever the CSRs' sizes.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/**
 * Bytes of a one-CSR page: an etcd with a raised --max-request-bytes stores larger objects,
 * and one such CSR must not fail its cluster's listing either. Beyond this, it does (one line).
 */
export const MAX_OBJECT_BYTES = 16 * 1024 * 1024;
/** Characters of a served CSR (JSON) kept whole between listing and writing; larger: re-read to write. */
export const KEEP_WHOLE_CHARS = 8 * 1024;

/** Writes of large objects (oversized requests; objects not kept whole) in flight per cluster. */
const LARGE_WRITES_AT_ONCE = 3;

/** A response body went over its byte bound: the caller asks for less (a smaller page). */
class ResponseTooLarge extends Error {}

interface Response {
  status: number;
  body: string;
}

export function kubeClient(target: KubeEndpoint, options: KubeClientOptions = {}): KubeApi {
  const base = new URL(target.endpoint);
  if (base.protocol !== "https:") throw new KubeError(0, `${target.name}: endpoint must be https://`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  // One connection reused for the whole sweep of this cluster. Idle sockets are unref'd by
  // the agent (they never hold the process) and closed after 30 s.
  const agent = new Agent({
    keepAlive: true,
    timeout: 30_000,
    ...(target.caData ? { ca: Buffer.from(target.caData, "base64") } : {}),
    ...(target.clientCert && target.clientKey ? { cert: target.clientCert, key: target.clientKey } : {}),
    ...(target.serverName ? { servername: target.serverName } : {}),
  });
  const basePath = base.pathname.replace(/\/$/, "");
  const headers: Record<string, string> = {
    ...(target.token ? { Authorization: `Bearer ${target.token}` } : {}),
    Accept: "application/json",
  };

  const open = (
    method: string,
    path: string,
    query: Record<string, string>,
    signal: AbortSignal,
    body?: string,
  ): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const search = new URLSearchParams(query).toString();
      const req = httpsRequest(
        {
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[(.*)\]$/, "$1"),
          port: base.port || 443,
          method,
          path: `${basePath}${path}${search ? `?${search}` : ""}`,
          agent,
          signal,
          headers: {
            ...headers,
            ...(body !== undefined
              ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) }
              : {}),
          },
        },
        resolve,
      );
      // On abort (deadline, watch window) the socket must die with the request: a keep-alive
      // agent would otherwise take back a socket still waiting for a silent server.
      req.once("socket", (socket) => {
        const kill = () => socket.destroy();
        if (signal.aborted) return kill();
        signal.addEventListener("abort", kill, { once: true });
        req.once("close", () => signal.removeEventListener("abort", kill));
      });
      req.once("error", reject);
      req.end(body);
    });

  // Every call gets its own deadline, body included: a hung apiserver must not eat the
  // Lambda's budget.
  const send = async (
    what: string,
    method: string,
    path: string,
    query: Record<string, string> = {},
    body?: unknown,
    maxBytes = MAX_RESPONSE_BYTES,
    size?: { bytes: number },
  ): Promise<unknown> => {
    let response: Response;
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      const res = await open(
        method,
        path,
        query,
        signal,
        body === undefined ? undefined : JSON.stringify(body),
      );
      // CSR responses lose their oversized requests before parsing (strip-requests.ts).
      const bytes = await readBody(res, maxBytes);
      if (size) size.bytes = bytes.length;
      response = {
        status: res.statusCode ?? 0,
        body: (path.startsWith(CSR_PATH) ? stripLargeRequests(bytes) : bytes).toString("utf8"),
      };
    } catch (err) {
      if (err instanceof ResponseTooLarge) throw err;
      throw transportError(what, target.name, err);
    }
    if (response.status < 200 || response.status >= 300) {
      throw new KubeError(response.status, `${target.name}: ${what}: ${statusDetail(response)}`);
    }
    try {
      return JSON.parse(response.body) as unknown;
    } catch {
      throw new KubeError(response.status, `${target.name}: ${what}: the response is not JSON`);
    }
  };

  const toRead = (raw: unknown): ReadCsr => {
    const checked = checkCsr(raw);
    if ("unreadable" in checked) return checked;
    const api = checked.api;
    const csr = compactCsr(api);
    // Small objects are kept as served (an oversized request left out), to be written back
    // without a read.
    const slim = withoutLargeRequest(api);
    return JSON.stringify(slim).length <= KEEP_WHOLE_CHARS ? { csr, raw: slim } : { csr };
  };

  // Kept whatever its size (an oversized request left out): a read is for the write that follows it.
  const readCsr = async (name: string): Promise<ReadCsr> => {
    const checked = checkCsr(
      await send(`read certificatesigningrequest ${name}`, "GET", `${CSR_PATH}/${encodeURIComponent(name)}`),
    );
    if ("unreadable" in checked) return checked;
    return { csr: compactCsr(checked.api), raw: withoutLargeRequest(checked.api) };
  };

  // The object as read (its resourceVersion makes a concurrent change a 409), with the new
  // conditions list. Timestamps travel as the RFC 3339 strings they were read as; new
  // conditions get theirs from the apiserver.
  const writeConditions = async (
    read: ReadCsr,
    raw: ApiCsr,
    conditions: CsrCondition[],
  ): Promise<ReadCsr> => {
    const name = read.csr.metadata.name;
    const body = { ...raw, status: { ...raw.status, conditions } };
    return toRead(
      await send(
        `update approval of certificatesigningrequest ${name}`,
        "PUT",
        `${CSR_PATH}/${encodeURIComponent(name)}/approval`,
        { fieldManager: "csr-approver" },
        body,
      ),
    );
  };
  // A compact read: write only if the object is still the version decided on.
  const rewrite = async (read: ReadCsr, conditions: CsrCondition[]): Promise<ReadCsr> => {
    const name = read.csr.metadata.name;
    const whole = (await readCsr(name)).raw;
    const raw = whole && withoutLargeRequest(whole);
    if (!raw || raw.metadata?.resourceVersion !== read.csr.metadata.resourceVersion) {
      throw new KubeError(409, `${target.name}: certificatesigningrequest ${name} changed since it was read`);
    }
    return writeConditions(read, raw, conditions);
  };
  // Writes of large objects in flight per cluster: their responses are megabytes each.
  let largeInFlight = 0;
  const largeWaiting: (() => void)[] = [];
  const fewLargeAtOnce = async <T>(write: () => Promise<T>): Promise<T> => {
    while (largeInFlight >= LARGE_WRITES_AT_ONCE) await new Promise<void>((r) => largeWaiting.push(r));
    largeInFlight += 1;
    try {
      return await write();
    } finally {
      largeInFlight -= 1;
      largeWaiting.shift()?.();
    }
  };

  return {
    async listKubeletServingCsrs(visit, pageSize = DEFAULT_PAGE_SIZE) {
      const stats: ListStats = { pages: 0, items: 0 };
      let token: string | undefined;
      let limit = pageSize;
      const size = { bytes: 0 };
      for (;;) {
        // A continue token outlives a page by minutes (etcd compaction); if it expires (410)
        // the listing fails and the cluster's CSRs wait for the next sweep.
        let body: unknown;
        try {
          body = await send(
            "list certificatesigningrequests",
            "GET",
            CSR_PATH,
            {
              fieldSelector: KUBELET_SERVING_SELECTOR,
              limit: String(limit),
              ...(token ? { continue: token } : {}),
            },
            undefined,
            limit > 1 ? MAX_RESPONSE_BYTES : MAX_OBJECT_BYTES,
            size,
          );
        } catch (err) {
          if (!(err instanceof ResponseTooLarge)) throw err;
          // Large CSRs (up to etcd's 1.5 MiB each) must not fail the cluster: the same page
          // again from the same token, half as long, down to one CSR (which always fits).
          if (limit <= 1) {
            throw new KubeError(0, `${target.name}: list certificatesigningrequests: ${err.message}`);
          }
          limit = Math.max(1, Math.floor(limit / 2));
          stats.shrunk = (stats.shrunk ?? 0) + 1;
          continue;
        }
        // Back up towards the page size once pages fit again with room to spare: a page that
        // would likely not fit twice over is not asked for (each miss costs its bytes).
        if (size.bytes * 2 <= MAX_RESPONSE_BYTES) limit = Math.min(pageSize, limit * 2);
        stats.pages += 1;
        const page = listPage(body, `${target.name}: list certificatesigningrequests`);
        for (const item of page.items ?? []) {
          stats.items += 1;
          visit(toRead(item));
        }
        const version = page.metadata?.resourceVersion;
        if (version) stats.resourceVersion = version;
        token = page.metadata?.continue || undefined;
        if (token === undefined) return stats;
      }
    },
    async listNodes() {
      // Paginated like the CSRs: a Node object is several KiB, and only name and providerID are kept.
      const nodes: NodeObject[] = [];
      let token: string | undefined;
      do {
        const what = `${target.name}: list nodes`;
        const page = listPage(
          await send("list nodes", "GET", "/api/v1/nodes", {
            limit: String(DEFAULT_PAGE_SIZE),
            ...(token ? { continue: token } : {}),
          }),
          what,
        );
        for (const item of page.items ?? []) nodes.push(checkNode(item, what));
        token = page.metadata?.continue || undefined;
      } while (token !== undefined);
      return nodes;
    },
    async readNode(name) {
      let node: unknown;
      try {
        node = await send(`read node ${name}`, "GET", `/api/v1/nodes/${encodeURIComponent(name)}`);
      } catch (err) {
        if (err instanceof KubeError && err.status === 404) return undefined;
        throw err;
      }
      return checkNode(node, `${target.name}: read node ${name}`);
    },
    readCsr,
    replaceConditions(read, conditions) {
      if (read.raw && !requestTooLarge(read.csr)) return writeConditions(read, read.raw, conditions);
      // A large object (its response, or its re-read, is megabytes): a few at a time per
      // cluster, so concurrent writes never hold many at once. Not kept at all: read again first.
      return fewLargeAtOnce(() =>
        read.raw ? writeConditions(read, read.raw, conditions) : rewrite(read, conditions),
      );
    },
    async watchKubeletServingCsrs(onEvent, signal, resourceVersion) {
      const end: WatchEnd = { expired: false, ...(resourceVersion ? { resourceVersion } : {}) };
      if (signal.aborted) return end;
      let res: IncomingMessage;
      try {
        res = await open(
          "GET",
          CSR_PATH,
          {
            watch: "true",
            fieldSelector: KUBELET_SERVING_SELECTOR,
            allowWatchBookmarks: "true",
            ...(resourceVersion ? { resourceVersion } : {}),
          },
          signal,
        );
      } catch {
        return end; // the caller reconnects (or its window is over)
      }
      if (res.statusCode !== 200) {
        res.resume();
        return { ...end, expired: res.statusCode === 410 };
      }
      // One JSON watch event per line: {"type": "ADDED", "object": {...}}. Lines are gathered
      // as bytes and bounded before anything is parsed: a line over MAX_RESPONSE_BYTES (more
      // than any CSR etcd stores) is skipped to its end; the next scheduled LIST sees that CSR.
      await new Promise<void>((resolve) => {
        let parts: Buffer[] = [];
        let size = 0;
        let skipping = false;
        const handle = (line: string): boolean => {
          if (!line.trim()) return true;
          let json: unknown;
          try {
            json = JSON.parse(line);
          } catch {
            return true; // a line that is not an event ends nothing: the next one may be fine
          }
          const parsed = v.safeParse(WatchEventSchema, json);
          if (!parsed.success) return true; // not an event either
          const event = parsed.output;
          if (event.type === "ERROR") {
            if (event.object?.code === 410) end.expired = true;
            res.destroy();
            return false;
          }
          const version = event.object?.metadata?.resourceVersion;
          if (version) end.resourceVersion = version;
          const type = event.type;
          if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return true;
          try {
            onEvent(type, toRead(event.object));
          } catch {
            // not a CSR object: nothing to act on
          }
          return true;
        };
        res.on("data", (chunk: Buffer) => {
          let from = 0;
          let newline: number;
          while ((newline = chunk.indexOf(0x0a, from)) >= 0) {
            const piece = chunk.subarray(from, newline);
            from = newline + 1;
            const fits = !skipping && size + piece.length <= MAX_RESPONSE_BYTES;
            const line = fits ? stripLargeRequests(Buffer.concat([...parts, piece])).toString("utf8") : "";
            parts = [];
            size = 0;
            skipping = false;
            if (fits && !handle(line)) return;
          }
          if (skipping || from >= chunk.length) return;
          const rest = chunk.subarray(from);
          size += rest.length;
          if (size > MAX_RESPONSE_BYTES) {
            parts = []; // over the bound: drop what was gathered and skip to the line's end
            skipping = true;
            return;
          }
          parts.push(rest);
        });
        res.once("end", resolve);
        res.once("close", resolve);
        res.once("error", () => resolve());
      });
      return end;
    },
  };
}

function readBody(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Destroying the response also emits "aborted": the size is the reason, whichever comes first.
    let tooLarge: ResponseTooLarge | undefined;
    res.on("data", (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > maxBytes) {
        chunks.length = 0;
        tooLarge = new ResponseTooLarge(`response larger than ${maxBytes} bytes`);
        reject(tooLarge);
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.once("end", () => resolve(Buffer.concat(chunks)));
    res.once("error", (err) => reject(tooLarge ?? err));
    res.once("aborted", () => reject(tooLarge ?? new Error("response aborted")));
  });
}

/**
 * The served object with an oversized spec.request replaced by "": what a write of its
 * conditions sends. The approval subresource takes only status.conditions from the body (the
 * stored spec is kept), so the megabytes need not travel back.
 */
function withoutLargeRequest(api: ApiCsr): ApiCsr {
  if (!requestTooLarge(api) || api.spec === null || typeof api.spec !== "object") return api;
  const { requestLength: _dropped, ...spec } = api.spec; // ours (strip-requests.ts), not the API's
  return { ...api, spec: { ...spec, request: "" } };
}

/**
 * A served CSR checked against CsrSchema. One that fails it is a stand-in with its decision
 * (`wait`, ReadCsr.unreadable); one without even a name fails the call, as a non-object does.
 */
function checkCsr(raw: unknown): { api: ApiCsr } | Required<Pick<ReadCsr, "csr" | "unreadable">> {
  const checked = v.safeParse(CsrSchema, raw);
  if (checked.success) return { api: checked.output as ApiCsr };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new KubeError(0, "the apiserver returned a CSR that is not an object");
  const name = nameOf(raw);
  const problem = problemOf(checked.issues);
  if (name === "") throw new KubeError(0, `the apiserver returned a CSR without a name (${problem.path})`);
  const { spec, metadata } = raw as {
    spec?: { username?: unknown };
    metadata: { resourceVersion?: unknown };
  };
  const username = spec?.username;
  const resourceVersion = metadata.resourceVersion;
  return {
    csr: {
      metadata: { name, ...(typeof resourceVersion === "string" ? { resourceVersion } : {}) },
      spec: { signerName: "", request: "", ...(typeof username === "string" ? { username } : {}) },
    },
    unreadable: unreadableCsrDecision(name, problem),
  };
}

/** A LIST page: its items (each checked by its own schema) and its continue token. */
function listPage(body: unknown, what: string): v.InferOutput<typeof ListSchema> {
  const page = v.safeParse(ListSchema, body);
  if (!page.success) throw new KubeError(0, `${what}: the response is not a list`);
  return page.output;
}

/** Only the name and providerID of a Node are kept (a Node object is several KiB). */
function checkNode(raw: unknown, what: string): NodeObject {
  const node = v.safeParse(NodeSchema, raw);
  if (!node.success) {
    throw new KubeError(
      0,
      `${what}: a Node object in the list is unreadable (no name, or a providerID that is not a string)`,
    );
  }
  const providerID = node.output.spec?.providerID;
  return { metadata: { name: node.output.metadata.name }, spec: providerID ? { providerID } : {} };
}

/** The apiserver's Status message when it sent one, else the HTTP status. */
function statusDetail(response: Response): string {
  try {
    const status = JSON.parse(response.body) as { message?: unknown };
    if (typeof status.message === "string" && status.message) return status.message;
  } catch {
    // not a Status object
  }
  return `HTTP ${response.status}`;
}

function transportError(what: string, cluster: string, err: unknown): KubeError {
  const e = err as { name?: string; code?: string; message?: string; cause?: { name?: string } };
  const timedOut =
    e?.name === "TimeoutError" ||
    e?.name === "AbortError" ||
    e?.code === "ABORT_ERR" ||
    e?.cause?.name === "TimeoutError";
  const reason = timedOut ? "timed out" : (e?.code ?? e?.message ?? String(err));
  return new KubeError(0, `${cluster}: ${what}: ${reason}`);
}
