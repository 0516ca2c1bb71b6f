// The kubeconfig adapter of `sweep --kubeconfig`: what @kubernetes/client-node resolves from a
// context becomes the sweep client's endpoint; what that client cannot honour is refused.
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { kubeconfigEndpoint } from "../../functions/sweep/kubeconfig.js";

const CA = "-----BEGIN CERTIFICATE-----\nMIIBcA==\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcB==\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";
const b64 = (text: string) => Buffer.from(text).toString("base64");

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "c",
      clusters: [{ name: "lab", cluster: { server: "https://10.0.0.10:6443/", ...cluster } }],
      users: [{ name: "u", user }],
      contexts: [{ name: "c", context: { cluster: "lab", user: "u" } }],
    }),
  );
  return kc;
}

describe("kubeconfigEndpoint", () => {
  it("takes a static token and the CA", async () => {
    const endpoint = await kubeconfigEndpoint(
      kubeconfig({ "certificate-authority-data": b64(CA) }, { token: "abc.def" }),
      "lab",
    );
    expect(endpoint).toEqual({
      name: "lab",
      endpoint: "https://10.0.0.10:6443",
      token: "abc.def",
      caData: b64(CA),
    });
  });

  it("takes a client certificate and key, with no token, and the tls-server-name", async () => {
    const endpoint = await kubeconfigEndpoint(
      kubeconfig(
        { "certificate-authority-data": b64(CA), "tls-server-name": "api.lab" },
        { "client-certificate-data": b64(CERT), "client-key-data": b64(KEY) },
      ),
      "lab",
    );
    expect(endpoint).toMatchObject({ token: "", clientCert: CERT, clientKey: KEY, serverName: "api.lab" });
  });

  it.each([
    ["http://", { server: "http://10.0.0.10:8080" }, { token: "t" }, /must be https/],
    [
      "insecure-skip-tls-verify",
      { "insecure-skip-tls-verify": true },
      { token: "t" },
      /insecure-skip-tls-verify/,
    ],
    ["a proxy", { "proxy-url": "http://proxy:3128" }, { token: "t" }, /proxy-url/],
    ["basic auth", {}, { username: "admin", password: "secret" }, /basic auth/],
    ["impersonation", {}, { token: "t", as: "system:admin" }, /impersonation/],
    ["no credential", {}, {}, /no token, client certificate or exec plugin/],
  ])("refuses %s with one line", async (_what, cluster, user, message) => {
    await expect(kubeconfigEndpoint(kubeconfig(cluster, user), "lab")).rejects.toThrow(message);
  });
});
