// The Kubernetes edge of the sweep: list kubelet-serving CSRs once per cluster, list Nodes
// for the providerID cross-check, and write conditions through the approval subresource.
// Thin by design: no policy here, only transport, timeouts and the 409 protocol.
import {
  ApiException,
  CertificatesV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  Watch,
  type ConfigurationOptions,
  type V1CertificateSigningRequest,
  type V1CertificateSigningRequestCondition,
} from "@kubernetes/client-node";
import { KUBELET_SERVING_SIGNER, type CsrCondition, type CsrObject, type NodeObject } from "../core/types.js";

export interface KubeEndpoint {
  name: string; // cluster name, for kubeconfig context naming only
  endpoint: string; // https://…
  caData?: string; // base64 PEM bundle; absent: the system trust store
  token: string; // bearer token
}

/** A CSR as read: the plain object the policy sees, and the API object we write back. */
export interface ReadCsr {
  csr: CsrObject;
  raw: V1CertificateSigningRequest;
}

export interface KubeApi {
  listKubeletServingCsrs(): Promise<ReadCsr[]>;
  listNodes(): Promise<NodeObject[]>;
  readCsr(name: string): Promise<ReadCsr>;
  /** PUT …/approval with the resourceVersion read earlier; throws KubeError (status 409 on conflict). */
  replaceConditions(read: ReadCsr, conditions: CsrCondition[]): Promise<ReadCsr>;
  /**
   * Watches kubelet-serving CSRs and calls onEvent for every added or modified one until
   * `signal` aborts; resolves when the watch ends (abort, server close or error).
   */
  watchKubeletServingCsrs(onEvent: (type: string, name: string) => void, signal: AbortSignal): Promise<void>;
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

export function kubeClient(target: KubeEndpoint, options: KubeClientOptions = {}): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: target.name,
        server: target.endpoint,
        ...(target.caData ? { caData: target.caData } : {}),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: "csr-approver", token: target.token }],
    contexts: [{ name: target.name, cluster: target.name, user: "csr-approver" }],
    currentContext: target.name,
  });
  const certificates = kc.makeApiClient(CertificatesV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const timeoutMs = options.timeoutMs ?? 10_000;

  // Every call gets its own deadline: a hung apiserver must not eat the Lambda's budget.
  const withTimeout = (): ConfigurationOptions => ({
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(AbortSignal.timeout(timeoutMs));
          return new Observable(Promise.resolve(ctx));
        },
        post: (res) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: "append",
  });

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toKubeError(what, target.name, err);
    }
  };

  const toRead = (raw: V1CertificateSigningRequest): ReadCsr => ({ csr: toPlainCsr(raw), raw });

  return {
    async listKubeletServingCsrs() {
      const list = await call("list certificatesigningrequests", () =>
        certificates.listCertificateSigningRequest(
          { fieldSelector: `spec.signerName=${KUBELET_SERVING_SIGNER}` },
          withTimeout(),
        ),
      );
      return list.items.map(toRead);
    },
    async listNodes() {
      const list = await call("list nodes", () => core.listNode({}, withTimeout()));
      return list.items.map((n) => ({
        metadata: { name: n.metadata?.name ?? "" },
        spec: { ...(n.spec?.providerID ? { providerID: n.spec.providerID } : {}) },
      }));
    },
    async readCsr(name) {
      return toRead(
        await call(`read certificatesigningrequest ${name}`, () =>
          certificates.readCertificateSigningRequest({ name }, withTimeout()),
        ),
      );
    },
    async replaceConditions(read, conditions) {
      const body: V1CertificateSigningRequest = {
        ...read.raw,
        status: {
          ...read.raw.status,
          conditions: conditions.map(toApiCondition),
        },
      };
      const name = read.csr.metadata.name;
      return toRead(
        await call(`update approval of certificatesigningrequest ${name}`, () =>
          certificates.replaceCertificateSigningRequestApproval(
            { name, body, fieldManager: "csr-approver" },
            withTimeout(),
          ),
        ),
      );
    },
    async watchKubeletServingCsrs(onEvent, signal) {
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        let controller: AbortController | undefined;
        const stop = () => controller?.abort();
        signal.addEventListener("abort", stop, { once: true });
        new Watch(kc)
          .watch(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            { fieldSelector: `spec.signerName=${KUBELET_SERVING_SIGNER}`, allowWatchBookmarks: false },
            (type, obj: { metadata?: { name?: string } }) => onEvent(type, obj?.metadata?.name ?? ""),
            () => {
              signal.removeEventListener("abort", stop);
              resolve();
            },
          )
          .then((c) => {
            controller = c;
            if (signal.aborted) c.abort();
          })
          .catch(() => resolve());
      });
    },
  };
}

// client-node hands back model objects with Date fields; the policy reads plain JSON like
// `kubectl get csr -o json` prints. A JSON round trip turns Dates into RFC 3339 strings.
function toPlainCsr(raw: V1CertificateSigningRequest): CsrObject {
  return JSON.parse(JSON.stringify(raw)) as CsrObject;
}

function toApiCondition(c: CsrCondition): V1CertificateSigningRequestCondition {
  return {
    type: c.type,
    status: c.status,
    ...(c.reason !== undefined ? { reason: c.reason } : {}),
    ...(c.message !== undefined ? { message: c.message } : {}),
    // Existing conditions keep their timestamps; new ones get theirs from the apiserver.
    ...(c.lastUpdateTime ? { lastUpdateTime: new Date(c.lastUpdateTime) } : {}),
    ...(c.lastTransitionTime ? { lastTransitionTime: new Date(c.lastTransitionTime) } : {}),
  };
}

function toKubeError(what: string, cluster: string, err: unknown): KubeError {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const detail = typeof body === "object" && body?.message ? body.message : `HTTP ${err.code}`;
    return new KubeError(err.code, `${cluster}: ${what}: ${detail}`);
  }
  const e = err as { name?: string; message?: string; cause?: { message?: string; code?: string } };
  const reason =
    e?.name === "TimeoutError" || e?.name === "AbortError"
      ? "timed out"
      : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err));
  return new KubeError(0, `${cluster}: ${what}: ${reason}`);
}
