// Reads a secret from stdin: on a terminal without echo (prompt on stderr, typed twice), from a pipe as all of
// its text less one trailing newline. Nothing is echoed, logged or kept beyond the returned string.

/** The secret typed at a terminal or piped in; rejects when the two typings differ or input is cancelled. */
export async function readSecret(prompt: string, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!input.isTTY) return readPipe(input);
  // Raw (no echo) before the first prompt and until the last entry: a key typed the moment a prompt shows,
  // or typed ahead, must not reach the terminal's echo.
  input.setRawMode(true);
  input.setEncoding('utf8');
  try {
    const [first, again] = await readHidden([`${prompt}: `, `${prompt} again: `], input);
    if (first !== again) throw new Error('the two entries differ');
    return first;
  } finally {
    input.setRawMode(false);
    input.pause();
  }
}

async function readPipe(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * One line per prompt from a terminal in raw mode (typed-ahead lines are kept for the next prompt): Enter ends a
 * line, Backspace deletes, Ctrl-C / Ctrl-D cancel.
 */
function readHidden(prompts: string[], input: NodeJS.ReadStream): Promise<string[]> {
  const lines: string[] = [];
  let text = '';
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      input.off('data', onData);
      if (err) {
        process.stderr.write('\n');
        reject(err);
      } else resolve(lines);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          lines.push(text);
          text = '';
          process.stderr.write('\n');
          if (lines.length === prompts.length) return finish();
          process.stderr.write(prompts[lines.length]);
        } else if (ch === '\u0003' || ch === '\u0004') return finish(new Error('cancelled'));
        else if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch >= ' ') text += ch;
      }
    };
    input.on('data', onData);
    input.resume();
    process.stderr.write(prompts[0]);
  });
}
