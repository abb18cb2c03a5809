/** Human and machine output: tables for people, one JSON document for scripts (`--json`). */
export interface Output {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

export function consoleOutput(json: boolean): Output {
  return {
    json,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell))));
  const widths = headers.map((header, index) => Math.max(header.length, ...cells.map((row) => row[index]!.length)));
  const line = (row: string[]) => row.map((cell, index) => cell.padEnd(widths[index]!)).join("  ").trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join("\n");
}
