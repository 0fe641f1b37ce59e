/** What a CLI command is: a name, a one-line summary, a usage text with an example, and a run. */
export interface Command {
  name: string;
  summary: string;
  /** Full help text: synopsis, flags with defaults, at least one example. */
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A group of commands under one word (`arpeggio sim chord`). */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: Command[];
}

/** Writes a progress line on a terminal (stderr), overwriting itself; silent when piped. */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastLen = 0;
  private lastWriteMs = 0;
  private readonly startMs = Date.now();

  /** Updates the line at most every 100 ms, and only after the first second of work. */
  update(text: string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.startMs < 1000 || now - this.lastWriteMs < 100) return;
    this.lastWriteMs = now;
    const line = `${text}`;
    process.stderr.write(`\r${line}${' '.repeat(Math.max(0, this.lastLen - line.length))}`);
    this.lastLen = line.length;
  }

  done(): void {
    if (this.tty && this.lastLen > 0) process.stderr.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.lastLen = 0;
  }
}

/** A two-column report: labels padded to one width, then values. */
export function formatRows(rows: ReadonlyArray<readonly [string, string]>, labelWidth = 14): string {
  return rows.map(([k, v]) => `${k.padEnd(labelWidth)} ${v}`).join('\n');
}
