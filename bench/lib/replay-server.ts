// A stand-in for the CSR LIST of a cluster far larger than the rig can hold: an HTTPS server
// on 127.0.0.1 that serves CSR JSON captured from the rig's real kube-apiserver, cloned into
// many items, page by page as the apiserver does (`limit`, `continue`, items in name order,
// `remainingItemCount`). Only metadata differs between clones (name, uid, resourceVersion,
// creationTimestamp); spec and status are the captured bytes. Approval PUTs are answered 200
// with the object written (resourceVersion bumped), as the apiserver does.
//
// Items are generated per page from a compact index, so the server's own memory stays small
// (it runs in the harness, not in the measured worker).
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReplayTemplate {
  /** A CSR as served by the rig's apiserver. */
  json: Record<string, unknown> & { metadata: Record<string, unknown> };
  pending: boolean;
}

export interface ReplayItem {
  template: number;
  name: string;
  uid: string;
  resourceVersion: number;
  creationTimestamp: string;
}

export interface ReplayStats {
  listPages: number;
  listLimits: number[];
  items: number;
  nodeLists: number;
  writes: number;
  /** Writes to CSRs that were already decided when served (must stay 0). */
  writesToDecided: number;
  reads: number;
  unauthorized: number;
  unknown: string[];
  bytesServed: number;
}

export interface ReplayServer {
  endpoint: string;
  stats: ReplayStats;
  /** Names written through the approval subresource, with the condition types written. */
  written: Map<string, string[]>;
  close(): Promise<void>;
}

const CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const SELECTOR = "spec.signerName=kubernetes.io/kubelet-serving";

export async function startReplayServer(options: {
  certPem: string;
  keyPem: string;
  token: string;
  /** The list envelope (kind, apiVersion) as the apiserver served it. */
  envelope: Record<string, unknown>;
  templates: ReplayTemplate[];
  /** Sorted by name, as etcd returns keys. */
  items: ReplayItem[];
  nodes: { name: string; instanceId: string }[];
}): Promise<ReplayServer> {
  const { templates, items } = options;
  const stats: ReplayStats = {
    listPages: 0,
    listLimits: [],
    items: 0,
    nodeLists: 0,
    writes: 0,
    writesToDecided: 0,
    reads: 0,
    unauthorized: 0,
    unknown: [],
    bytesServed: 0,
  };
  const written = new Map<string, string[]>();
  const byName = new Map(items.map((item, index) => [item.name, index]));
  const listRv = items.reduce((max, i) => Math.max(max, i.resourceVersion), 0) + 1;

  const render = (item: ReplayItem): Record<string, unknown> => {
    const t = templates[item.template] as ReplayTemplate;
    return {
      ...t.json,
      metadata: {
        ...t.json.metadata,
        name: item.name,
        uid: item.uid,
        resourceVersion: String(item.resourceVersion),
        creationTimestamp: item.creationTimestamp,
      },
    };
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    stats.bytesServed += Buffer.byteLength(text);
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(text);
  };
  const status = (res: ServerResponse, code: number, reason: string, message: string) =>
    send(res, code, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    });

  // The apiserver's continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}.
  const encodeContinue = (nextName: string) =>
    Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: listRv, start: `${nextName}\u0000` })).toString(
      "base64",
    );
  const decodeContinue = (token: string): number | undefined => {
    try {
      const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { start?: string };
      const raw = parsed.start ?? "";
      const start = raw.endsWith("\u0000") ? raw.slice(0, -1) : raw;
      // First item whose name is >= start (binary search over the sorted names).
      let lo = 0;
      let hi = items.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((items[mid] as ReplayItem).name < start) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    } catch {
      return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      stats.unauthorized += 1;
      return status(res, 401, "Unauthorized", "Unauthorized");
    }
    const url = new URL(req.url ?? "/", "https://replay");
    if (req.method === "GET" && url.pathname === CSR_PATH) {
      if (url.searchParams.get("fieldSelector") !== SELECTOR)
        return status(
          res,
          400,
          "BadRequest",
          `unexpected fieldSelector ${url.searchParams.get("fieldSelector")}`,
        );
      const limit = Number(url.searchParams.get("limit") ?? "0");
      const token = url.searchParams.get("continue");
      const start = token ? decodeContinue(token) : 0;
      if (start === undefined) return status(res, 400, "BadRequest", "invalid continue token");
      const end = limit > 0 ? Math.min(items.length, start + limit) : items.length;
      stats.listPages += 1;
      stats.listLimits.push(limit);
      stats.items += end - start;
      const page = items.slice(start, end).map(render);
      const more = end < items.length;
      return send(res, 200, {
        ...options.envelope,
        metadata: {
          resourceVersion: String(listRv),
          ...(more
            ? {
                continue: encodeContinue((items[end] as ReplayItem).name),
                remainingItemCount: items.length - end,
              }
            : {}),
        },
        items: page,
      });
    }
    if (req.method === "GET" && url.pathname === "/api/v1/nodes") {
      stats.nodeLists += 1;
      return send(res, 200, {
        kind: "NodeList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(listRv) },
        items: options.nodes.map((n) => ({
          metadata: { name: n.name },
          spec: { providerID: `aws:///us-east-1a/${n.instanceId}` },
        })),
      });
    }
    const one = url.pathname.startsWith(`${CSR_PATH}/`)
      ? url.pathname.slice(CSR_PATH.length + 1).split("/")
      : [];
    const index = one[0] !== undefined ? byName.get(decodeURIComponent(one[0])) : undefined;
    if (req.method === "GET" && one.length === 1) {
      stats.reads += 1;
      if (index === undefined) return status(res, 404, "NotFound", "not found");
      return send(res, 200, render(items[index] as ReplayItem));
    }
    if (req.method === "PUT" && one.length === 2 && one[1] === "approval") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      if (index === undefined) return status(res, 404, "NotFound", "not found");
      const item = items[index] as ReplayItem;
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        metadata?: { resourceVersion?: string };
        status?: { conditions?: { type: string }[] };
      };
      if (body.metadata?.resourceVersion !== String(item.resourceVersion))
        return status(res, 409, "Conflict", "the object has been modified");
      stats.writes += 1;
      if (!(templates[item.template] as ReplayTemplate).pending) stats.writesToDecided += 1;
      written.set(
        item.name,
        (body.status?.conditions ?? []).map((c) => c.type),
      );
      item.resourceVersion = listRv + stats.writes;
      return send(res, 200, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: String(item.resourceVersion) },
      });
    }
    stats.unknown.push(`${req.method} ${url.pathname}`);
    return status(res, 404, "NotFound", `the replay serves no ${req.method} ${url.pathname}`);
  };

  const server: Server = createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) status(res, 500, "InternalError", String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    stats,
    written,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
