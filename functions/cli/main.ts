// Placeholder until the CLI lands; replaced by the evaluate/sweep commands.
export async function main(_argv: string[]): Promise<number> {
  process.stdout.write("csr-approver: evaluate | sweep | setup-cluster (coming)\n");
  return 0;
}
