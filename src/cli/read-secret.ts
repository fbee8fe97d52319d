// Reads a secret from stdin: on a terminal without echo (prompt on stderr, typed twice), from a pipe as all of
// its text less one trailing newline. Nothing is echoed, logged or kept beyond the returned string.

/** The secret typed at a terminal or piped in; rejects when the two typings differ or input is cancelled. */
export async function readSecret(prompt: string, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!input.isTTY) return readPipe(input);
  const first = await readHidden(`${prompt}: `, input);
  const again = await readHidden(`${prompt} again: `, input);
  if (first !== again) throw new Error('the two entries differ');
  return first;
}

async function readPipe(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** One line from a raw-mode terminal: Enter ends, Backspace deletes, Ctrl-C / Ctrl-D cancel. */
function readHidden(prompt: string, input: NodeJS.ReadStream): Promise<string> {
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  let text = '';
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch >= ' ') text += ch;
      }
    };
    input.on('data', onData);
  });
}
