/**
 * One line per skipped suite or check, on stderr. Jest's console.warn prints a block with a
 * stack and a code frame for each call; a skip reason needs only its line.
 */

/** Prints `<what> skipped: <reason>` as one line (newlines in the reason become spaces). */
export function reportSkip(what: string, reason: string): void {
  process.stderr.write(`${what} skipped: ${reason.replace(/\s*\n\s*/g, ' ')}\n`);
}
