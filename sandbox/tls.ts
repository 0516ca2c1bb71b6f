// What metrics-server does with a kubelet's serving certificate (without
// --kubelet-insecure-tls): connect to the node's address, trust only the cluster CA
// (--kubelet-certificate-authority), and verify the chain and that the certificate names the
// address it dialled. The node addresses are not on this machine, so the server (holding the
// kubelet's stored certificate and key) listens on 127.0.0.1 and the client verifies as if it
// had dialled the node's InternalIP or DNS name: SNI carries a DNS name, and the identity check
// is Node's own tls.checkServerIdentity against the dialled address.
import type { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, connect, createServer, type PeerCertificate } from "node:tls";

export interface ServingCheck {
  /** The node address the client verified against (InternalIP or a DNS name). */
  dialled: string;
  ok: boolean;
  /** TLS version and the certificate's subject, when the handshake verified. */
  protocol?: string;
  subject?: string;
  error?: string;
}

export async function verifyServing(options: {
  certFile: string; // the kubelet's kubelet-server-current.pem: certificate and key
  caPem: string;
  dialled: string;
}): Promise<ServingCheck> {
  const pem = readFileSync(options.certFile, "utf8");
  const server = createServer({ cert: pem, key: pem }, (socket) => socket.end());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  try {
    return await new Promise<ServingCheck>((resolve) => {
      const socket = connect({
        host: "127.0.0.1",
        port,
        ca: options.caPem, // only the cluster CA: not the system roots
        ...(isIP(options.dialled) ? {} : { servername: options.dialled }),
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          checkServerIdentity(options.dialled, cert),
      });
      socket.setTimeout(10_000, () => socket.destroy(new Error("TLS handshake timed out")));
      socket.once("secureConnect", () => {
        const cert = socket.getPeerX509Certificate();
        resolve({
          dialled: options.dialled,
          ok: socket.authorized,
          protocol: socket.getProtocol() ?? undefined,
          subject: cert ? subjectCn(cert) : undefined,
          ...(socket.authorized ? {} : { error: String(socket.authorizationError) }),
        });
        socket.end();
      });
      socket.once("error", (error) => resolve({ dialled: options.dialled, ok: false, error: error.message }));
    });
  } finally {
    server.close();
  }
}

function subjectCn(cert: X509Certificate): string {
  return /CN=([^\n]*)/.exec(cert.subject)?.[1] ?? cert.subject;
}
