/**
 * Reading a token the way `ps` and shell history never see it: from standard input when it is a
 * pipe or a file, or typed at a prompt that does not echo it.
 */
import { CliError } from "./errors.js";

/** Largest token accepted on stdin, bytes: an operator token is 47 characters. */
const MAX_TOKEN_BYTES = 4096;

/** The whole of standard input, without one trailing newline. */
async function readPipedToken(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_TOKEN_BYTES) throw new CliError(`standard input is longer than ${MAX_TOKEN_BYTES} bytes: not a token`, 2);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Asks on stderr and reads one line from the terminal in raw mode, echoing nothing. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const stdin = process.stdin;
    let typed = "";
    // Echo off before the question shows: what is typed (or pasted) the moment it appears stays unseen.
    stdin.setRawMode(true);
    process.stderr.write(question);
    stdin.resume();
    stdin.setEncoding("utf8");
    const finish = (error?: CliError) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolvePromise(typed);
    };
    const onData = (text: string) => {
      for (const char of text) {
        if (char === "\r" || char === "\n") return finish();
        if (char === "\u0003" || char === "\u0004") return finish(new CliError("cancelled", 1, "cancelled"));
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else if (char >= " ") typed += char;
      }
    };
    stdin.on("data", onData);
  });
}

/** A token from stdin (piped) or a hidden prompt (a terminal); empty input is a usage error. */
export async function readToken(question: string): Promise<string> {
  const token = (process.stdin.isTTY ? await promptHidden(question) : await readPipedToken()).trim();
  if (token === "") throw new CliError("no token given (pipe it on standard input, or type it at the prompt)", 2);
  return token;
}
