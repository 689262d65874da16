/** `breakwater bgp` (not yet implemented). */
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('breakwater bgp: not implemented yet\n');
  return 1;
}
