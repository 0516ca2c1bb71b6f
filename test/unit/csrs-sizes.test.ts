// The Kubernetes client under hostile sizes (security review, finding 1), against a local HTTPS
// server speaking the apiserver's LIST/watch/approval protocol: a page over the byte bound is
// asked for again from the same continue token with half the limit (never failing the cluster
// while one CSR fits), a watch line over the bound is skipped before it is parsed, and what is
// kept of a large CSR is its compact form, read again just before a write.
import type { CsrCondition, CsrObject } from "../../functions/core/types.js";
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KEEP_WHOLE_CHARS,
  KubeError,
  kubeClient,
  MAX_OBJECT_BYTES,
  MAX_RESPONSE_BYTES,
  type KubeApi,
  type ReadCsr,
} from "../../functions/sweep/csrs.js";
import {
  CONDITION_TEXT_KEPT,
  compactCsr,
  MAX_CERTIFICATE_CHARS,
  MAX_SPEC_REQUEST_CHARS,
  requestLength,
  requestTooLarge,
} from "../../functions/core/request-size.js";
import { der, extensionDer } from "../support/csr-factory.js";

const BIG = 1_946_652; // base64 characters of a 1.46 MB PEM: the largest CSR etcd stores

function csrJson(name: string, requestChars: number, resourceVersion = "7"): Record<string, unknown> {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion,
      creationTimestamp: "2026-12-05T10:00:00Z",
      labels: { team: "x" },
      managedFields: [{ manager: "kubelet", operation: "Update" }],
    },
    spec: {
      signerName: "kubernetes.io/kubelet-serving",
      request: "Q".repeat(requestChars),
      username: "system:node:ip-10-0-1-70.ec2.internal",
      groups: ["system:nodes", "system:authenticated"],
      usages: ["digital signature", "server auth"],
    },
    status: {},
  };
}

interface Served {
  limits: string[];
  continues: (string | undefined)[];
  puts: Record<string, unknown>[];
  gets: number;
}

let server: Server;
let endpoint: string;
let caData: string;
let handler: (req: IncomingMessage, res: ServerResponse, served: Served) => void;
let served: Served;

beforeAll(async () => {
  const { certPem, keyPem } = selfSignedFor127();
  caData = Buffer.from(certPem).toString("base64");
  server = createServer({ cert: certPem, key: keyPem }, (req, res) => handler(req, res, served));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A self-signed certificate for 127.0.0.1 (its own CA), from the factory's DER writer. */
function selfSignedFor127(): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const name = der.seq(der.set(der.seq(der.oid("2.5.4.3"), der.utf8("127.0.0.1"))));
  const time = (ms: number) =>
    der.tlv(
      0x17,
      Buffer.from(
        new Date(ms)
          .toISOString()
          .replace(/[-:T]|\.\d+/g, "")
          .slice(2),
      ),
    );
  const ecdsaSha256 = der.seq(der.oid("1.2.840.10045.4.3.2"));
  const tbs = der.seq(
    der.tlv(0xa0, der.tlv(0x02, Buffer.from([2]))),
    der.tlv(0x02, Buffer.from([1])),
    ecdsaSha256,
    name,
    der.seq(time(Date.now() - 60_000), time(Date.now() + 3_600_000)),
    name,
    publicKey.export({ format: "der", type: "spki" }),
    der.tlv(
      0xa3,
      der.seq(
        extensionDer("2.5.29.19", der.seq(der.bool(true)), true),
        extensionDer("2.5.29.17", der.seq(der.tlv(0x87, Buffer.from([127, 0, 0, 1])))),
      ),
    ),
  );
  const cert = der.seq(tbs, ecdsaSha256, der.bitString(sign("sha256", tbs, privateKey)));
  const lines = cert.toString("base64").replace(/(.{64})/g, "$1\n");
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

function client(): KubeApi {
  served = { limits: [], continues: [], puts: [], gets: 0 };
  return kubeClient({ name: "test", endpoint, caData, token: "t" }, { timeoutMs: 20_000 });
}

/** A LIST of `items` served as the apiserver does: `limit` items from the continue index. */
function listing(items: Record<string, unknown>[]) {
  return (req: IncomingMessage, res: ServerResponse, s: Served) => {
    const url = new URL(req.url ?? "", "https://x");
    const limit = Number(url.searchParams.get("limit"));
    const from = Number(url.searchParams.get("continue") ?? "0");
    s.limits.push(String(limit));
    s.continues.push(url.searchParams.get("continue") ?? undefined);
    const page = items.slice(from, from + limit);
    const next = from + limit < items.length ? String(from + limit) : undefined;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({
        metadata: { resourceVersion: "99", ...(next ? { continue: next } : {}) },
        items: page,
      }),
    );
  };
}

describe("LIST pages over the byte bound", () => {
  it("asks again from the same continue token with half the limit, down to what fits, and keeps big CSRs compact", async () => {
    // 3 small, then 8 maximum-size CSRs (~15.6 MB), then 3 small: one 500-item page is far over 4 MiB.
    const items = [
      ...["a1", "a2", "a3"].map((n) => csrJson(n, 2_000)),
      ...Array.from({ length: 8 }, (_, i) => csrJson(`big-${i}`, BIG)),
      ...["z1", "z2", "z3"].map((n) => csrJson(n, 2_000)),
    ];
    handler = listing(items);
    const kube = client();
    const seen: ReadCsr[] = [];
    const stats = await kube.listKubeletServingCsrs((read) => seen.push(read));
    // Every CSR, once, in order: nothing skipped, nothing repeated.
    expect(seen.map((r) => r.csr.metadata.name)).toEqual(
      items.map((i) => (i.metadata as { name: string }).name),
    );
    expect(stats.items).toBe(items.length);
    expect(stats.shrunk).toBeGreaterThan(0);
    // Halved from 500 while over the bound; each retry from the token it failed at.
    expect(served.limits.slice(0, 3)).toEqual(["500", "250", "125"]);
    expect(served.continues[1]).toBe(served.continues[0]);
    expect(Math.min(...served.limits.map(Number))).toBeGreaterThanOrEqual(1);
    // Big ones: compact, the request dropped, its length kept; small ones whole.
    for (const read of seen.filter((r) => r.csr.metadata.name.startsWith("big-"))) {
      // What is written back: the served object without the request (labels and all).
      expect(read.raw?.spec.request).toBe("");
      expect(read.raw?.metadata.labels).toEqual({ team: "x" });
      expect(read.csr.spec.request).toBe("");
      expect(read.csr.spec.requestLength).toBe(BIG);
      expect(JSON.stringify(read.csr).length).toBeLessThan(1_000);
    }
    const small = seen.find((r) => r.csr.metadata.name === "a1")!;
    expect(small.raw).toBeDefined();
    expect(small.csr.spec.request).toHaveLength(2_000);
    expect(small.csr.metadata).not.toHaveProperty("managedFields");
    expect(small.csr.metadata).not.toHaveProperty("labels");
  });

  it("one CSR over the page bound (an etcd with a raised limit) is still listed, alone in its page", async () => {
    handler = listing([
      csrJson("a1", 2_000),
      csrJson("larger", MAX_RESPONSE_BYTES + 10),
      csrJson("z1", 2_000),
    ]);
    const kube = client();
    const seen: ReadCsr[] = [];
    await kube.listKubeletServingCsrs((read) => seen.push(read));
    expect(seen.map((r) => r.csr.metadata.name)).toEqual(["a1", "larger", "z1"]);
    expect(seen[1]!.csr.spec.requestLength).toBe(MAX_RESPONSE_BYTES + 10);
  });

  it("a single CSR over the object bound fails the listing with one clear line", async () => {
    handler = listing([csrJson("a1", 2_000), csrJson("huge", MAX_OBJECT_BYTES + 10)]);
    const kube = client();
    const error = await kube.listKubeletServingCsrs(() => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeError);
    expect((error as Error).message).toBe(
      `test: list certificatesigningrequests: response larger than ${MAX_OBJECT_BYTES} bytes`,
    );
    expect(served.limits.at(-1)).toBe("1");
  });
});

describe("what is kept of a CSR, and the write of a large one", () => {
  const big = csrJson("big-0", BIG, "41");
  const small = csrJson("small-0", 2_000, "42");
  // Large without an oversized request (20 KB of annotations): not kept, read again to write.
  const annotated = (resourceVersion: string) => {
    const object = csrJson("annotated-0", 2_000, resourceVersion);
    (object.metadata as Record<string, unknown>).annotations = { note: "n".repeat(20_000) };
    return object;
  };

  it(`writes small CSRs back as read, big requests left out, and re-reads other objects over ${KEEP_WHOLE_CHARS} characters`, async () => {
    expect(MAX_SPEC_REQUEST_CHARS).toBe(16 * 1024);
    let current = annotated("43");
    handler = (req, res, s) => {
      if (req.method === "GET" && req.url?.includes("/annotated-0")) {
        s.gets += 1;
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(current));
        return;
      }
      if (req.method === "PUT") {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (chunk: string) => (body += chunk));
        req.on("end", () => {
          const object = JSON.parse(body) as Record<string, unknown>;
          s.puts.push(object);
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(
            JSON.stringify({
              ...object,
              metadata: { ...(object.metadata as object), resourceVersion: "50" },
            }),
          );
        });
        return;
      }
      listing([small, big, annotated("43")])(req, res, s);
    };
    const kube = client();
    const seen: ReadCsr[] = [];
    await kube.listKubeletServingCsrs((read) => seen.push(read));
    const [smallRead, bigRead, annotatedRead] = seen;
    expect(annotatedRead!.raw).toBeUndefined();
    const denied = [{ type: "Denied", status: "True", reason: "CsrApproverDenied", message: "x" }];

    await kube.replaceConditions(smallRead!, denied);
    await kube.replaceConditions(bigRead!, denied);
    expect(served.gets).toBe(0);
    // The big one: everything as served (labels, managedFields, resourceVersion) but the request.
    const written = served.puts[1] as {
      spec: { request: string; signerName: string };
      metadata: { labels: unknown; resourceVersion: string };
      status: { conditions: unknown };
    };
    expect(written.spec).toMatchObject({ request: "", signerName: "kubernetes.io/kubelet-serving" });
    expect(written.metadata).toMatchObject({ labels: { team: "x" }, resourceVersion: "41" });
    expect(written.status.conditions).toEqual(denied);
    expect(JSON.stringify(written).length).toBeLessThan(2_000);

    // The annotated one: read again and written whole.
    await kube.replaceConditions(annotatedRead!, denied);
    expect(served.gets).toBe(1);
    expect(
      (served.puts[2] as { metadata: { annotations: { note: string } } }).metadata.annotations.note,
    ).toHaveLength(20_000);
    // Changed since it was listed: a conflict (the sweep re-reads and decides again).
    current = annotated("44");
    const error = await kube.replaceConditions(annotatedRead!, denied).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeError);
    expect((error as KubeError).status).toBe(409);
    expect(served.puts).toHaveLength(3);
  });
});

describe("watch lines over the byte bound", () => {
  it("skips a line over the bound before parsing it, and goes on with the next events", async () => {
    const event = (name: string, rv: string, chars: number) =>
      JSON.stringify({ type: "ADDED", object: csrJson(name, chars, rv) }) + "\n";
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write(event("first", "10", 2_000));
      // Over the bound, sent in pieces as a socket would: never assembled, never parsed.
      const hugeLine = event("huge", "11", MAX_RESPONSE_BYTES + 1000);
      for (let at = 0; at < hugeLine.length; at += 65_536) res.write(hugeLine.slice(at, at + 65_536));
      res.write(event("big", "12", BIG)); // under the bound: read, kept compact
      res.write(`${event("last", "13", 2_000).slice(0, 100)}`);
      res.end(event("last", "13", 2_000).slice(100));
    };
    const kube = client();
    const seen: ReadCsr[] = [];
    const end = await kube.watchKubeletServingCsrs(
      (_type, read) => seen.push(read),
      AbortSignal.timeout(20_000),
    );
    expect(seen.map((r) => r.csr.metadata.name)).toEqual(["first", "big", "last"]);
    expect(seen[1]!.raw?.spec.request).toBe("");
    expect(seen[1]!.csr.spec.requestLength).toBe(BIG);
    expect(end).toEqual({ expired: false, resourceVersion: "13" });
  });
});

describe("compactCsr and issued certificates", () => {
  const served = (certificate: string): CsrObject => ({
    metadata: { name: "csr-c", uid: "u", resourceVersion: "7" },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "cmVx", username: "system:node:n" },
    status: { conditions: [{ type: "Approved", status: "True" }], certificate },
  });

  it("keeps a certificate up to the bound, so our own issued certificates can be checked against their request", () => {
    const leaf = "Q".repeat(2_000);
    expect(compactCsr(served(leaf)).status?.certificate).toBe(leaf);
    expect(compactCsr(served("Q".repeat(MAX_CERTIFICATE_CHARS))).status?.certificate).toHaveLength(
      MAX_CERTIFICATE_CHARS,
    );
  });

  it("marks one beyond the bound instead of keeping it (it then fails that check)", () => {
    expect(compactCsr(served("Q".repeat(MAX_CERTIFICATE_CHARS + 1))).status?.certificate).toBe("(issued)");
  });
});

describe("compactCsr for the audit: only the approval in effect and whether a certificate exists", () => {
  const served = (conditions: CsrCondition[], certificate?: string): CsrObject => ({
    metadata: { name: "csr-a", uid: "u", resourceVersion: "9", creationTimestamp: "2026-12-05T00:00:00Z" },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "cmVx", username: "system:node:n" },
    status: { conditions, ...(certificate !== undefined ? { certificate } : {}) },
  });

  it("keeps the first Approved condition that is not False, every field of it, and nothing else", () => {
    const approval: CsrCondition = {
      type: "Approved",
      status: "True",
      reason: "Elsewhere",
      message: "approved by hand",
      lastUpdateTime: "2026-12-05T00:01:00Z",
      lastTransitionTime: "2026-12-05T00:01:00Z",
    };
    const compact = compactCsr(
      served(
        [
          { type: "Approved", status: "False", reason: "Withdrawn" },
          approval,
          { type: "Failed", status: "True", message: "x" },
        ],
        "Q".repeat(10),
      ),
      "audit",
    );
    expect(compact).toStrictEqual({
      ...compactCsr(served([])),
      status: { conditions: [approval], certificate: "(issued)" },
    });
  });

  it("an approval with no texts is kept as it is, without empty keys", () => {
    const [kept] = compactCsr(served([{ type: "Approved", status: "True" }]), "audit").status!.conditions!;
    expect(kept).toStrictEqual({ type: "Approved", status: "True" });
  });

  it("no approval in effect, no certificate: an empty status; none served: none kept", () => {
    expect(compactCsr(served([{ type: "Denied", status: "True" }]), "audit").status).toStrictEqual({});
    const bare = { metadata: { name: "b" }, spec: { signerName: "s", request: "r" } } as CsrObject;
    expect(compactCsr(bare, "audit")).toStrictEqual({
      metadata: { name: "b" },
      spec: { signerName: "s", request: "r" },
    });
  });

  it("cuts each text of the approval to CONDITION_TEXT_KEPT characters", () => {
    const long = "z".repeat(CONDITION_TEXT_KEPT + 1);
    const [kept] = compactCsr(
      served([
        {
          type: "Approved",
          status: "True",
          reason: long,
          message: long,
          lastUpdateTime: long,
          lastTransitionTime: long,
        },
      ]),
      "audit",
    ).status!.conditions!;
    for (const text of [kept!.reason, kept!.message, kept!.lastUpdateTime, kept!.lastTransitionTime]) {
      expect(text).toBe(long.slice(0, CONDITION_TEXT_KEPT));
    }
  });
});

describe("compactCsr keeps what deciding, planning and writing read, and nothing else", () => {
  it("keeps the listed fields as served, leaves out the rest, adds no empty keys", () => {
    const served = {
      metadata: {
        name: "csr-k",
        uid: "u-1",
        resourceVersion: "42",
        creationTimestamp: "2026-12-05T00:00:00Z",
        annotations: { a: "b" },
        managedFields: [{ manager: "kubelet" }],
      },
      spec: {
        signerName: "kubernetes.io/kubelet-serving",
        request: "cmVx",
        username: "system:node:n",
        uid: "s-1",
        groups: ["system:nodes"],
        usages: ["digital signature", "server auth"],
        expirationSeconds: 3600,
        extra: { sessionName: ["i-0a1b2c3d4e5f60718"] },
      },
      status: { conditions: [{ type: "Approved", status: "True" }], other: "x" },
    } as unknown as CsrObject;
    expect(compactCsr(served)).toStrictEqual({
      metadata: {
        name: "csr-k",
        uid: "u-1",
        resourceVersion: "42",
        creationTimestamp: "2026-12-05T00:00:00Z",
      },
      spec: {
        signerName: "kubernetes.io/kubelet-serving",
        request: "cmVx",
        username: "system:node:n",
        uid: "s-1",
        groups: ["system:nodes"],
        usages: ["digital signature", "server auth"],
        expirationSeconds: 3600,
        extra: { sessionName: ["i-0a1b2c3d4e5f60718"] },
      },
      status: { conditions: [{ type: "Approved", status: "True" }] },
    });
    const bare = { metadata: { name: "b" }, spec: { signerName: "s", request: "r" }, status: null };
    expect(compactCsr(bare as unknown as CsrObject)).toStrictEqual({
      metadata: { name: "b" },
      spec: { signerName: "s", request: "r" },
    });
  });

  it("an oversized request leaves only its length; the bound is inclusive", () => {
    const sized = (length: number) =>
      ({ metadata: { name: "x" }, spec: { signerName: "s", request: "A".repeat(length) } }) as CsrObject;
    expect(requestTooLarge(sized(MAX_SPEC_REQUEST_CHARS))).toBe(false);
    expect(requestTooLarge(sized(MAX_SPEC_REQUEST_CHARS + 1))).toBe(true);
    const compact = compactCsr(sized(MAX_SPEC_REQUEST_CHARS + 1));
    expect(compact.spec.request).toBe("");
    expect(compact.spec.requestLength).toBe(MAX_SPEC_REQUEST_CHARS + 1);
    expect(requestTooLarge(compact)).toBe(true);
  });

  it("requestLength reads junk as nothing, and a stated length never shortens a long request", () => {
    for (const junk of [null, undefined, 7, { spec: null }, { spec: "x" }, { spec: { request: 5 } }]) {
      expect(requestLength(junk)).toBe(0);
    }
    expect(requestLength({ spec: { request: "abc", requestLength: 1 } })).toBe(3);
    expect(requestLength({ spec: { request: "", requestLength: 99 } })).toBe(99);
    expect(requestLength({ spec: { request: "", requestLength: Number.NaN } })).toBe(0);
    expect(requestLength({ spec: { request: "", requestLength: "99" } })).toBe(0);
  });
});

// The edge schemas at work in the client (functions/sweep/k8s-schemas.ts): what fails them
// becomes what the policy made of it before it trusted its types.
describe("objects that fail their schema", () => {
  const unreadableStatus = {
    code: "FACTS_UNAVAILABLE",
    message: "the CSR's status is unreadable, so whether it is already decided is unknown",
  };
  it("a listed CSR becomes a stand-in that waits (never written); the others are read as usual", async () => {
    const items = [
      csrJson("good", 2_000),
      { ...csrJson("bad-status", 2_000), status: 5 },
      {
        ...csrJson("bad-groups", 2_000),
        spec: { ...(csrJson("x", 10).spec as object), groups: "system:nodes" },
      },
    ];
    handler = listing(items);
    const kube = client();
    const reads: ReadCsr[] = [];
    await kube.listKubeletServingCsrs((read) => reads.push(read));
    expect(reads.map((r) => [r.csr.metadata.name, r.unreadable?.reasons[0]])).toEqual([
      ["good", undefined],
      ["bad-status", unreadableStatus],
      [
        "bad-groups",
        {
          code: "FACTS_UNAVAILABLE",
          message: "the CSR is unreadable: spec.groups: expected a list of strings",
        },
      ],
    ]);
    const standIn = reads[1]!;
    expect(standIn.raw).toBeUndefined();
    expect(standIn.csr).toEqual({
      metadata: { name: "bad-status", resourceVersion: "7" },
      spec: { signerName: "", request: "", username: "system:node:ip-10-0-1-70.ec2.internal" },
    });
    expect(standIn.unreadable).toMatchObject({ name: "bad-status", decision: "wait" });
  });
  it("a CSR without a name, or not an object, fails the listing with one line", async () => {
    handler = listing([{ ...csrJson("x", 10), metadata: {} }]);
    await expect(client().listKubeletServingCsrs(() => undefined)).rejects.toThrow(
      "the apiserver returned a CSR without a name (metadata.name)",
    );
    handler = listing([5 as unknown as Record<string, unknown>]);
    await expect(client().listKubeletServingCsrs(() => undefined)).rejects.toThrow(
      "the apiserver returned a CSR that is not an object",
    );
  });
  it("an unreadable Node object fails the Node lookup (every CSR then waits); readable ones keep name and providerID", async () => {
    const nodes = (items: unknown[]) => (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ metadata: {}, items }));
    };
    handler = nodes([
      { metadata: { name: "a", labels: { x: "y" } }, spec: { providerID: "aws:///z/i-1", taints: [] } },
      { metadata: { name: "b" }, spec: null },
    ]);
    expect(await client().listNodes()).toEqual([
      { metadata: { name: "a" }, spec: { providerID: "aws:///z/i-1" } },
      { metadata: { name: "b" }, spec: {} },
    ]);
    for (const bad of [{ metadata: { name: "a" }, spec: { providerID: 7 } }, { metadata: {} }, null]) {
      handler = nodes([bad]);
      await expect(client().listNodes()).rejects.toThrow(
        "test: list nodes: a Node object in the list is unreadable (no name, or a providerID that is not a string)",
      );
    }
  });
  it("a watch event that is not {type, object} is skipped; a CSR that fails its schema arrives as a stand-in", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write("null\n");
      res.write(`${JSON.stringify({ object: csrJson("no-type", 10, "20") })}\n`);
      res.write(
        `${JSON.stringify({ type: "ADDED", object: { ...csrJson("bad", 10, "21"), status: "x" } })}\n`,
      );
      res.end(`${JSON.stringify({ type: "ADDED", object: csrJson("good", 10, "22") })}\n`);
    };
    const seen: ReadCsr[] = [];
    const end = await client().watchKubeletServingCsrs(
      (_t, read) => seen.push(read),
      AbortSignal.timeout(20_000),
    );
    expect(seen.map((r) => [r.csr.metadata.name, r.unreadable?.reasons[0]])).toEqual([
      ["bad", unreadableStatus],
      ["good", undefined],
    ]);
    expect(end).toEqual({ expired: false, resourceVersion: "22" });
  });
});
