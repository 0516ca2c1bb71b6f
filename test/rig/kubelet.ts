// Creates CSRs through the real apiserver the way the kubelet does with serverTLSBootstrap
// (pkg/kubelet/certificate: ECDSA P-256 key, generateName csr-, kubelet-serving signer,
// usages digital signature + server auth), authenticated as the node, so spec.username,
// spec.groups and spec.uid are filled in by the apiserver, not by the test.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { CertificatesV1Api, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { createCsrPem, toRequestField, type CsrSpec } from "../support/csr-factory.js";
import type { ClusterHandle, RigIdentity } from "./cluster.js";

export const KUBELET_SERVING = "kubernetes.io/kubelet-serving";
export const KUBELET_USAGES = ["digital signature", "server auth"];

export interface KubeletCsrOptions {
  // The node's name as the kubelet knows it (its hostname or --hostname-override).
  node: string;
  dnsNames?: string[];
  ips?: string[];
  key?: KeyObject;
}

export interface CreatedCsr {
  csr: V1CertificateSigningRequest;
  name: string;
  key: KeyObject;
  pem: string;
}

export function certificatesApi(
  cluster: ClusterHandle,
  identity: RigIdentity,
  useToken = false,
): CertificatesV1Api {
  return cluster.kubeConfig(identity, useToken).makeApiClient(CertificatesV1Api);
}

// Exactly the kubelet's request, as node `options.node`.
export async function createKubeletCsr(
  cluster: ClusterHandle,
  options: KubeletCsrOptions,
): Promise<CreatedCsr> {
  const key = options.key ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const pem = createCsrPem({
    commonName: `system:node:${options.node}`,
    organizations: ["system:nodes"],
    dnsNames: options.dnsNames,
    ips: options.ips,
    key: { type: "ecdsa", curve: "P-256" },
    privateKey: key,
  });
  const csr = await createCsrAs(cluster, cluster.nodeCredentials(options.node), {
    metadata: { generateName: "csr-" },
    spec: { signerName: KUBELET_SERVING, usages: KUBELET_USAGES, request: toRequestField(pem) },
  });
  return { csr, name: csr.metadata?.name ?? "", key, pem };
}

export interface ArbitraryCsrOptions {
  // Who sends it: any identity of the cluster (a node's, the approver's, a minted user's).
  as: RigIdentity;
  useToken?: boolean;
  // The PKCS#10 content, e.g. another node's CN.
  request: CsrSpec;
  signerName?: string;
  usages?: string[];
  expirationSeconds?: number;
  name?: string; // default generateName csr-
}

// Hostile or unusual CSRs: any subject/SANs/signer/usages, sent as any identity.
export async function createArbitraryCsr(
  cluster: ClusterHandle,
  options: ArbitraryCsrOptions,
): Promise<CreatedCsr> {
  const key = options.request.privateKey ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const pem = createCsrPem({ key: { type: "ecdsa", curve: "P-256" }, ...options.request, privateKey: key });
  const csr = await createCsrAs(
    cluster,
    options.as,
    {
      metadata: options.name ? { name: options.name } : { generateName: "csr-" },
      spec: {
        signerName: options.signerName ?? KUBELET_SERVING,
        usages: options.usages ?? KUBELET_USAGES,
        request: toRequestField(pem),
        expirationSeconds: options.expirationSeconds,
      },
    },
    options.useToken,
  );
  return { csr, name: csr.metadata?.name ?? "", key, pem };
}

export async function createCsrAs(
  cluster: ClusterHandle,
  identity: RigIdentity,
  body: Omit<V1CertificateSigningRequest, "apiVersion" | "kind">,
  useToken = false,
): Promise<V1CertificateSigningRequest> {
  return certificatesApi(cluster, identity, useToken).createCertificateSigningRequest({
    body: { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", ...body },
  });
}
