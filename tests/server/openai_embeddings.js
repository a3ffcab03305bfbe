// Calls rembert-server's /v1/embeddings with the official OpenAI client (npm `openai`), as an application would.
// Usage: node openai_embeddings.js BASE_URL API_KEY
// Prints one JSON object: the embeddings the client decoded with its default encoding (base64) and with
// encoding_format "float", the usage it read, and the error message it raised for an invalid request.
const OpenAI = require('openai');

async function main() {
  const [baseURL, apiKey] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
  const input = ['Hello world', 'The capital of France is Paris.'];
  const base64 = await client.embeddings.create({ model: 'rembert', input });
  const floats = await client.embeddings.create({ model: 'rembert', input, encoding_format: 'float' });
  const single = await client.embeddings.create({ model: 'rembert', input: 'Hello world' });
  let error = null;
  try {
    await client.embeddings.create({ model: 'rembert', input: '' });
  } catch (e) {
    error = { status: e.status, message: e.message };
  }
  let auth = null;
  try {
    await new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 }).embeddings.create({ model: 'rembert', input });
  } catch (e) {
    auth = { status: e.status, message: e.message };
  }
  console.log(JSON.stringify({
    base64: base64.data.map((d) => d.embedding),
    float: floats.data.map((d) => d.embedding),
    single: single.data.map((d) => d.embedding),
    indices: floats.data.map((d) => d.index),
    usage: floats.usage,
    model: floats.model,
    error,
    auth,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
