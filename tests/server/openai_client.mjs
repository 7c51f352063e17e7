// openai_client.mjs - OpenAI's official Node client against rwkv-cli serve.
//
//   node openai_client.mjs BASE_URL MODULES_DIR
//
// Lists the models, asks for the same seeded chat reply and completion with
// and without streaming, and prints one JSON object with what came back;
// tests/test_server.py checks it (stream == non-stream, completion ==
// rwkv-cli generate). Exits non-zero on any error the client raises.
import { createRequire } from "node:module";
import path from "node:path";

const [baseURL, modules] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "x.js"));
const OpenAI = require("openai").default;

const client = new OpenAI({ baseURL, apiKey: "test-key", timeout: 30000, maxRetries: 0 });

async function collect(stream, pick) {
  let text = "", finish = null, chunks = 0, usage = null;
  for await (const ev of stream) {
    chunks++;
    if (ev.usage) usage = ev.usage;
    const c = ev.choices[0];
    if (!c) continue;
    text += pick(c) ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, finish, chunks, usage };
}

const out = {};
const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const chatReq = {
  model: out.models[0],
  messages: [{ role: "system", content: "Answer briefly." }, { role: "user", content: "Who begat Enos?" }],
  max_tokens: 48, seed: 11, temperature: 1.0, top_p: 0.9,
};
const chat = await client.chat.completions.create(chatReq);
out.chat = { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage };
out.chat_stream = await collect(
  await client.chat.completions.create({ ...chatReq, stream: true, stream_options: { include_usage: true } }),
  (c) => c.delta.content);

const complReq = {
  model: out.models[0], prompt: "In the beginning God", max_tokens: 40, seed: 5,
  temperature: 0.8, top_p: 0.7, presence_penalty: 0.1, frequency_penalty: 0.3,
};
const compl = await client.completions.create(complReq);
out.completion = { text: compl.choices[0].text, finish: compl.choices[0].finish_reason, usage: compl.usage };
out.completion_stream = await collect(await client.completions.create({ ...complReq, stream: true }), (c) => c.text);

// an error comes back as the client's typed error, with our message
try {
  await client.chat.completions.create({ ...chatReq, messages: [] });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, message: e.message, param: e.param ?? null };
}
console.log(JSON.stringify(out));
