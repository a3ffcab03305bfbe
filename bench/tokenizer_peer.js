#!/usr/bin/env node
// Hugging Face tokenizers (npm `tokenizers`, the Rust library) on the same corpus and tokenizer.json as
// rembert_bench_tokenizer: encodeBatch in batches (Rust/rayon threads: RAYON_NUM_THREADS), tokens per second.
//   NODE_PATH=/root/.cache/rembert-peers/node_modules node bench/tokenizer_peer.js DIR/tokenizer.json corpus.txt
//        [batch=1024] [repeat=3]
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokenizerPath, corpusPath] = process.argv.slice(2, 4);
  const batch = parseInt(process.argv[4] || '1024', 10);
  const repeat = parseInt(process.argv[5] || '3', 10);
  const text = fs.readFileSync(corpusPath, 'utf8');
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const bytes = Buffer.byteLength(text, 'utf8');
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokenizerPath);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeat; ++r) {
    tokens = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < lines.length; i += batch) {
      const encs = await tok.encodeBatch(lines.slice(i, i + batch));
      for (const e of encs) tokens += e.getLength();
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  console.log(`HF tokenizers (npm ${require('tokenizers/package.json').version}): ${lines.length} texts, ` +
              `${(bytes / 1e6).toFixed(1)} MB, ${tokens} tokens, load ${loadS.toFixed(3)} s, best of ${repeat}: ` +
              `${best.toFixed(3)} s, ${Math.round(tokens / best)} tokens/s, ${(bytes / 1e6 / best).toFixed(2)} MB/s`);
}

main();
