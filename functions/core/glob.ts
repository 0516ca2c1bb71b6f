// The one glob matcher of the configuration's name patterns: the EKS cluster filters
// (`eks.include`, `eks.exclude`) and the node-name patterns of `nonEc2Nodes` (non-ec2.ts).
// Pure.

/**
 * `*` matches any run of characters, `?` exactly one; everything else literally. With
 * `withinLabel`, neither wildcard matches a `.`, so a wildcard never spans a DNS label.
 *
 * Whoever may create EKS clusters or nodes picks the names, so no regex: a backtracking `.*`
 * per `*` made `*-*-*-*-*-*-prod` take seconds per name. This two-pointer matcher only ever
 * resumes after the last `*` seen (an earlier one can never be needed: the last one can absorb
 * whatever it would have; within labels too, as the dots of pattern and name must pair up in
 * order), so it is O(pattern × name) at worst and linear in practice.
 */
export function globMatch(pattern: string, name: string, options: { withinLabel?: boolean } = {}): boolean {
  const stop = options.withinLabel ? "." : undefined; // the character no wildcard matches
  let p = 0; // next pattern position
  let n = 0; // next name position
  let star = -1; // position of the last `*` seen in the pattern
  let resume = 0; // name position that `*` is currently matched up to
  while (n < name.length) {
    const token = pattern[p];
    const char = name[n];
    if (token === "*") {
      star = p++;
      resume = n;
    } else if (token !== undefined && (token === "?" ? char !== stop : token === char)) {
      p++;
      n++;
    } else if (star >= 0 && name[resume] !== stop) {
      // Let the last `*` take one more character and retry the rest of the pattern.
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}
