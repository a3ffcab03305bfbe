#!/usr/bin/env node
// Reference encodings from Hugging Face tokenizers (npm package `tokenizers`, the Rust library) for a list of
// requests, used to generate tests/fixtures/tokenizer_extra/*.json and to compare while developing.
//   NODE_PATH=/root/.cache/rembert-peers/node_modules node scripts/tokenizer_reference.js tokenizer.json < requests.json
// Each request: {"text": str, "pair": str?, "add_special_tokens": bool?, "truncation": {"max_length", "strategy",
// "stride", "direction"}?, "padding": {...}?, "batch": [[text, pair?], ...]?, "decode": [ids]?, "skip": bool?}.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function dump(e) {
  return {
    input_ids: e.getIds(),
    token_type_ids: e.getTypeIds(),
    attention_mask: e.getAttentionMask(),
    special_tokens_mask: e.getSpecialTokensMask(),
    tokens: e.getTokens(),
    offsets: e.getOffsets(),
    overflowing: e.getOverflowing().map(dump),
  };
}

async function main() {
  const tokenizerPath = process.argv[2];
  const requests = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  const tok = Tokenizer.fromFile(tokenizerPath);  // once: a full-size vocabulary per request exhausts memory
  for (const r of requests) {
    try {
      if (r.truncation) tok.setTruncation(r.truncation.max_length, r.truncation);
      else tok.disableTruncation();
      if (r.padding) tok.setPadding(r.padding);
      else tok.disablePadding();
      if (r.decode) {
        out.push({ text: await tok.decode(r.decode, !!r.skip) });
      } else if (r.batch) {
        const encs = await tok.encodeBatch(r.batch.map((p) => (p.length > 1 ? p : p[0])),
                                           { addSpecialTokens: r.add_special_tokens !== false });
        out.push({ batch: encs.map(dump) });
      } else {
        const e = await tok.encode(r.text, r.pair === undefined ? null : r.pair,
                                   { addSpecialTokens: r.add_special_tokens !== false });
        out.push(dump(e));
      }
    } catch (err) {
      out.push({ error: String(err && err.message ? err.message : err) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main();
